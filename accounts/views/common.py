"""What the money pages share: who may manage the active team, and choosing the active team."""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from accounts.models import Membership
from accounts.selectors import SESSION_KEY, AuthenticatedHttpRequest, require_membership

MONEY_IS_STAFFS = (
    "Every call here is paid with the site's BigModel key, so cash and billing modes are the site "
    "admins' to change."
)


def manager_membership(request: AuthenticatedHttpRequest) -> Membership:
    """The active membership, when it is an owner's or an admin's: 403 otherwise."""
    membership = require_membership(request)
    if not membership.manages:
        raise PermissionDenied("Only the team's owners and admins can do this.")
    return membership


def activate_team(request: HttpRequest, team_id: int) -> None:
    """The team the header shows, and the playground bills, from now on."""
    request.session[SESSION_KEY] = team_id
