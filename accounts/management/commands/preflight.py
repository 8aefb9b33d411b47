from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.preflight import port_problems


class Command(BaseCommand):
    help = (
        "Before `make run` starts its processes: are their ports free? Says which upstream is used."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        problems = port_problems()
        if problems:
            raise CommandError("\n".join(problems))
        if settings.UPSTREAM_MODE == "simulator":
            self.stdout.write(
                "No ZHIPUAI_API_KEY: replies come from the bundled offline simulator."
            )
        else:
            self.stdout.write(
                f"ZHIPUAI_API_KEY is set: talking to BigModel at {settings.ZHIPUAI_BASE_URL}."
            )
