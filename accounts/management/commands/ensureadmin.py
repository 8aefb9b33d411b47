import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Make sure an admin login exists: DJANGO_SUPERUSER_USERNAME/PASSWORD when set, "
        "otherwise create 'admin' once with a generated password and print it."
    )

    def handle(self, *args, **options):
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
        elif password and not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
            self.stdout.write(
                f"Admin login '{username}': password set from DJANGO_SUPERUSER_PASSWORD."
            )
        else:
            self.stdout.write(f"Admin login '{username}' exists.")
