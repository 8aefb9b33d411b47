import os
import secrets
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = (
        "Make sure an admin login exists: DJANGO_SUPERUSER_USERNAME/PASSWORD when set, "
        "otherwise create 'admin' once with a generated password and print it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--password-file",
            type=Path,
            help="also write a generated login there (only its owner may read it), for `make run` "
            "to show again once everything is up",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME") or "admin"
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD") or None  # empty in .env means unset
        user = User.objects.filter(username=username).first()
        if user is None:
            generated = password is None
            password = password or secrets.token_urlsafe(12)
            User.objects.create_superuser(username=username, email="", password=password)
            self.stdout.write(self.style.SUCCESS(f"Created admin login '{username}'."))
            if generated:
                self.stdout.write(
                    self.style.WARNING(
                        f"  username: {username}\n  password: {password}\n"
                        "  (shown once; change it in the app's admin)"
                    )
                )
                if options["password_file"]:
                    _write_private(options["password_file"], f"{username}\n{password}\n")
        elif password and not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
            self.stdout.write(
                f"Admin login '{username}': password set from DJANGO_SUPERUSER_PASSWORD."
            )
        else:
            self.stdout.write(f"Admin login '{username}' exists.")


def _write_private(path: Path, text: str) -> None:
    """Readable by its owner only, from the moment it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # one left by an earlier run keeps its mode otherwise
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
