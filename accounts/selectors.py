"""Reads for accounts: whose team is active, who may see what, and the figures the pages show."""

from django.core.exceptions import PermissionDenied
from django.http import Http404

from accounts.models import Membership, Team
from accounts.services.teams import personal_team_allowed, team_ensure_personal

SESSION_KEY = "active_team_id"
NO_TEAM = (
    "You are not in a team yet, so nothing can be billed for you: "
    "ask a site admin to add you to one."
)


def memberships_for(*, user):
    return (
        Membership.objects.filter(user=user)
        .select_related("team")
        .order_by("team__name", "team_id")
    )


def active_membership(request) -> Membership | None:
    """The membership of the team the user picked in the header (their personal team by default);
    None for a user in no team where personal teams are switched off."""
    memberships = list(memberships_for(user=request.user))
    chosen = request.session.get(SESSION_KEY)
    for membership in memberships:
        if membership.team_id == chosen:
            return membership
    personal = next((m for m in memberships if m.team.personal_for_id == request.user.id), None)
    if personal is None and not memberships:
        if not personal_team_allowed(user=request.user):
            return None
        team_ensure_personal(user=request.user)
        return active_membership(request)
    return personal or memberships[0]


def require_membership(request) -> Membership:
    """The active membership, for pages that are about a team: 403 (saying why) for a user in
    none."""
    membership = active_membership(request)
    if membership is None:
        raise PermissionDenied(NO_TEAM)
    return membership


def get_membership_for_user(*, user, team_id) -> Membership:
    membership = (
        Membership.objects.select_related("team").filter(user=user, team_id=team_id).first()
    )
    if membership is None:
        raise Http404("No such team.")
    return membership


def team_for_member(*, team: Team, membership_id: int) -> Membership:
    membership = (
        Membership.objects.select_related("user").filter(team=team, id=membership_id).first()
    )
    if membership is None:
        raise Http404("No such member.")
    return membership
