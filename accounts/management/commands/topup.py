from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import money
from accounts.management.commands._teams import find_team
from accounts.models import TopUp
from accounts.services.wallet import WalletError, wallet_topup


class Command(BaseCommand):
    help = (
        "Add cash to a team's wallet: topup TEAM YUAN [--note TEXT] "
        "[--method bank|alipay|wechat|cash|other]."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("team", help="team name, id, or the username of a personal team")
        parser.add_argument("yuan", help="amount in yuan, e.g. 100 or 12.50")
        parser.add_argument("--note", default="")
        parser.add_argument("--method", default=TopUp.Method.OTHER, choices=TopUp.Method.values)

    def handle(self, *args: Any, **options: Any) -> None:
        team = find_team(options["team"])
        try:
            topup = wallet_topup(
                team=team,
                amount_nano=money.to_nano(options["yuan"]),
                method=options["method"],
                note=options["note"],
            )
        except (ValueError, WalletError) as problem:
            raise CommandError(str(problem)) from None
        team.refresh_from_db()
        self.stdout.write(
            f"Added {money.yuan(topup.amount_nano)} to {team.name}; cash is now "
            f"{money.yuan(team.cash_nano)}."
        )
