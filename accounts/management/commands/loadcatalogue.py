from django.core.management.base import BaseCommand

from accounts.services import catalogue_load


class Command(BaseCommand):
    help = "Load (or refresh) the model catalogue from bigmodel/catalogue.json."

    def handle(self, *args, **options):
        created, updated = catalogue_load()
        self.stdout.write(f"Model catalogue: {created} added, {updated} refreshed.")
