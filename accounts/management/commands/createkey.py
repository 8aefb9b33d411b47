from datetime import date
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import money
from accounts.management.commands._teams import find_team
from accounts.services.keys import KeyNotMade, key_create
from accounts.services.teams import team_ensure_personal


class Command(BaseCommand):
    help = (
        "Make an API key for the console's /api/paas/v4/ endpoint: createkey USER [--team T] "
        "[--name N] [--models m1,m2] [--budget YUAN --period day|week|month] "
        "[--rpm N] [--concurrency N] [--expires YYYY-MM-DD]. The key is printed once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("user", help="the member's username")
        parser.add_argument("--team", help="the team it bills (default: the member's personal one)")
        parser.add_argument("--name", default="API key")
        parser.add_argument("--models", default="", help="the models it may call, comma-separated")
        parser.add_argument("--expires", help="the last day it works (YYYY-MM-DD, local time)")
        parser.add_argument("--budget", help="the most its calls may cost per period, in yuan")
        parser.add_argument("--period", default="month", help="day, week or month (local time)")
        parser.add_argument("--rpm", type=int, help="the most requests it may make per minute")
        parser.add_argument("--concurrency", type=int, help="the most calls it may have at once")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No user “{options['user']}”.")
        team = find_team(options["team"]) if options["team"] else team_ensure_personal(user=user)
        try:
            key, raw = key_create(
                user=user,
                team=team,
                name=options["name"],
                models=[m.strip() for m in options["models"].split(",") if m.strip()],
                expires_on=_day(options["expires"]),
                budget_nano=money.to_nano(options["budget"]) if options["budget"] else None,
                budget_period=options["period"],
                rpm=options["rpm"],
                concurrency=options["concurrency"],
            )
        except (KeyNotMade, ValueError) as problem:
            raise CommandError(str(problem)) from None
        self.stderr.write(f"Key {key.masked} (id {key.key_id}) for {user} on {team.name}:")
        self.stdout.write(raw)


def _day(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--expires “{text}” is not a date like 2027-01-31.") from None
