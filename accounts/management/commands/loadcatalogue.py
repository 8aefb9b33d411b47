from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from accounts.services.catalogue import catalogue_load, prices_load


class Command(BaseCommand):
    help = (
        "Load (or refresh) the model catalogue (bigmodel/catalogue.json) and add the seed prices "
        "(accounts/prices.json). A model edited by hand in the admin since it was loaded is left "
        "as it is, unless --force."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force", action="store_true", help="Overwrite models edited by hand as well."
        )

    def handle(self, *args: Any, force: bool = False, **options: Any) -> None:
        loaded = catalogue_load(force=force)
        self.stdout.write(
            f"Model catalogue: {len(loaded.created)} added, {len(loaded.updated)} refreshed."
        )
        if loaded.kept:
            self.stdout.write(
                f"Left as edited by hand: {', '.join(loaded.kept)} (--force overwrites them)."
            )
        self.stdout.write(f"Prices: {prices_load()} added (existing rows are left as they are).")
