from typing import cast

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts.selectors import AuthenticatedHttpRequest, active_membership, memberships_for


def teams(request: HttpRequest) -> dict[str, SimpleLazyObject]:
    """The header's team picker: the user's teams and the active one (read only when shown)."""
    if not request.user.is_authenticated:
        return {}
    request = cast(AuthenticatedHttpRequest, request)  # its user is a real one, just checked
    return {
        "active_membership": SimpleLazyObject(lambda: active_membership(request)),
        "my_memberships": SimpleLazyObject(lambda: list(memberships_for(user=request.user))),
    }
