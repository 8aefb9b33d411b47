from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import ApiKey
from accounts.services.keys import key_revoke


class Command(BaseCommand):
    help = (
        "Revoke an API key: revokekey KEY_ID (the part before the dot). It is refused from now on."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("key_id")

    def handle(self, *args: Any, **options: Any) -> None:
        key = ApiKey.objects.filter(key_id=options["key_id"]).first()
        if key is None:
            raise CommandError(f"No API key “{options['key_id']}”.")
        key_revoke(key=key)
        self.stdout.write(f"Revoked {key}.")
