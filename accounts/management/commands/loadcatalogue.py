from django.core.management.base import BaseCommand

from accounts.services.catalogue import catalogue_load, prices_load


class Command(BaseCommand):
    help = (
        "Load (or refresh) the model catalogue (bigmodel/catalogue.json) and add the seed prices "
        "(accounts/prices.json)."
    )

    def handle(self, *args, **options):
        created, updated = catalogue_load()
        self.stdout.write(f"Model catalogue: {created} added, {updated} refreshed.")
        self.stdout.write(f"Prices: {prices_load()} added (existing rows are left as they are).")
