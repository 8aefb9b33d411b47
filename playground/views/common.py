"""What the playground's pages share."""

from accounts.models import Membership
from accounts.selectors import NO_TEAM, AuthenticatedHttpRequest, active_membership
from playground.services import turns


def payer(request: AuthenticatedHttpRequest) -> Membership:
    """The membership of the team that pays: the one picked in the header."""
    membership = active_membership(request)
    if membership is None:
        raise turns.TurnRefused(NO_TEAM)
    return membership
