from datetime import datetime, time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts import money
from accounts.management.commands._teams import find_team
from accounts.models import ModelEntry, Pack
from accounts.services.wallet import WalletError, pack_add


class Command(BaseCommand):
    help = (
        "Give a team a pack: addpack TEAM --tokens N [--models m1,m2] --expires YYYY-MM-DD "
        "[--name NAME] (or --yuan AMOUNT for a money pack; --gift for a gift)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("team", help="team name, id, or the username of a personal team")
        size = parser.add_mutually_exclusive_group(required=True)
        size.add_argument("--tokens", type=int)
        size.add_argument("--yuan")
        parser.add_argument(
            "--models", default="", help="comma-separated model names; empty: all models"
        )
        parser.add_argument(
            "--expires", required=True, help="YYYY-MM-DD: usable until the end of that day"
        )
        parser.add_argument(
            "--starts", help="YYYY-MM-DD: usable from the start of that day (default: now)"
        )
        parser.add_argument("--name", default="")
        parser.add_argument("--gift", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        team = find_team(options["team"])
        models = [name.strip() for name in options["models"].split(",") if name.strip()]
        unknown = set(models) - set(ModelEntry.objects.values_list("name", flat=True))
        if unknown:
            raise CommandError(f"Not in the catalogue: {', '.join(sorted(unknown))}.")
        try:
            expires = self._day(options["expires"], end=True)
            starts = self._day(options["starts"]) if options["starts"] else None
            size = (
                options["tokens"]
                if options["tokens"] is not None
                else money.to_nano(options["yuan"])
            )
            unit = Pack.Unit.TOKENS if options["tokens"] is not None else Pack.Unit.MONEY
            name = options["name"] or (
                f"{size:,} tokens" if unit == Pack.Unit.TOKENS else f"¥{options['yuan']}"
            )
            pack = pack_add(
                team=team,
                name=name,
                size=size,
                unit=unit,
                models=models,
                expires_at=expires,
                effective_at=starts,
                kind=Pack.Kind.GIFT if options["gift"] else Pack.Kind.PURCHASED,
            )
        except (ValueError, WalletError) as problem:
            raise CommandError(str(problem)) from None
        scope = ", ".join(pack.models_scope) or "all models"
        self.stdout.write(
            f"{team.name}: pack “{pack.name}” for {scope}, until "
            f"{timezone.localtime(pack.expires_at):%Y-%m-%d %H:%M}."
        )

    @staticmethod
    def _day(text: str, end: bool = False) -> datetime:
        try:
            day = datetime.strptime(text, "%Y-%m-%d").date()
        except ValueError:
            raise CommandError(f"“{text}” is not a date (YYYY-MM-DD).") from None
        moment = datetime.combine(day, time.max if end else time.min)
        return timezone.make_aware(moment)
