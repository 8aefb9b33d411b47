"""Until an admin has logged in, the login page says where set-up showed the admin's password
(never the password itself: it is not kept anywhere a page could read it)."""

from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.http import HttpRequest


def first_login(request: HttpRequest) -> dict[str, Callable[[], bool]]:
    # A callable: only a page that asks (the login page) makes the query.
    return {"no_admin_has_logged_in": no_admin_has_logged_in}


def no_admin_has_logged_in() -> bool:
    """There is an admin login (`make run` made one) and none has been used yet."""
    admins = get_user_model().objects.filter(is_superuser=True)
    return admins.exists() and not admins.filter(last_login__isnull=False).exists()
