"""Reads for accounts: whose team is active, who may see what, and the figures the pages show."""

from django.http import Http404

from accounts.models import Membership, Team
from accounts.services.teams import team_ensure_personal

SESSION_KEY = "active_team_id"


def memberships_for(*, user):
    return Membership.objects.filter(user=user).select_related("team").order_by("team__name", "team_id")


def active_membership(request) -> Membership:
    """The membership of the team the user picked in the header (their personal team by default)."""
    memberships = list(memberships_for(user=request.user))
    chosen = request.session.get(SESSION_KEY)
    for membership in memberships:
        if membership.team_id == chosen:
            return membership
    personal = next((m for m in memberships if m.team.personal_for_id == request.user.id), None)
    if personal is None and not memberships:
        team_ensure_personal(user=request.user)
        return active_membership(request)
    return personal or memberships[0]


def get_membership_for_user(*, user, team_id) -> Membership:
    membership = Membership.objects.select_related("team").filter(user=user, team_id=team_id).first()
    if membership is None:
        raise Http404("No such team.")
    return membership


def team_for_member(*, team: Team, membership_id: int) -> Membership:
    membership = Membership.objects.select_related("user").filter(team=team, id=membership_id).first()
    if membership is None:
        raise Http404("No such member.")
    return membership
