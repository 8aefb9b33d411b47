"""Teams, members, roles, caps and invites."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from accounts.models import Invite, Membership, Team

INVITE_DAYS = 7


class TeamError(ValueError):
    """Something a team admin asked for that cannot be done, in words for them."""


def team_create(*, name: str, owner, personal: bool = False) -> Team:
    team = Team.objects.create(name=name, billing=settings.DEFAULT_TEAM_BILLING,
                               personal_for=owner if personal else None)
    Membership.objects.create(team=team, user=owner, role=Membership.Role.OWNER)
    return team


def team_ensure_personal(*, user) -> Team:
    """Every user has a team named after them; made with the user."""
    existing = Team.objects.filter(personal_for=user).first()
    return existing or team_create(name=user.get_username(), owner=user, personal=True)


def team_set_billing(*, team: Team, billing: str) -> Team:
    if billing not in Team.Billing.values:
        raise TeamError(f"“{billing}” is not a billing mode.")
    team.billing = billing
    team.save(update_fields=["billing"])
    return team


def member_add(*, team: Team, user, role: str = Membership.Role.MEMBER) -> Membership:
    if Membership.objects.filter(team=team, user=user).exists():
        raise TeamError(f"{user.get_username()} is already a member of {team.name}.")
    return Membership.objects.create(team=team, user=user, role=role)


def _owners(team: Team) -> int:
    return Membership.objects.filter(team=team, role=Membership.Role.OWNER).count()


@transaction.atomic
def member_set_role(*, membership: Membership, role: str, by: Membership) -> Membership:
    if role not in Membership.Role.values:
        raise TeamError(f"“{role}” is not a role.")
    if Membership.Role.OWNER in (role, membership.role) and by.role != Membership.Role.OWNER:
        raise TeamError("Only an owner can make or unmake owners.")
    if membership.role == Membership.Role.OWNER and role != Membership.Role.OWNER and _owners(membership.team) == 1:
        raise TeamError("A team needs an owner: make someone else owner first.")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def member_remove(*, membership: Membership, by: Membership) -> None:
    if membership.role == Membership.Role.OWNER and by.role != Membership.Role.OWNER:
        raise TeamError("Only an owner can remove an owner.")
    if membership.role == Membership.Role.OWNER and _owners(membership.team) == 1:
        raise TeamError("A team needs an owner: make someone else owner first.")
    if membership.team.personal_for_id == membership.user_id:
        raise TeamError("A personal team keeps its user.")
    membership.delete()


def member_set_cap(*, membership: Membership, cap_nano: int | None) -> Membership:
    if cap_nano is not None and cap_nano < 0:
        raise TeamError("A cap cannot be negative.")
    membership.monthly_cap_nano = cap_nano
    membership.save(update_fields=["monthly_cap_nano"])
    return membership


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invite_create(*, team: Team, role: str, by) -> tuple[Invite, str]:
    """The invite and its token. The token is shown once (in the link); only its digest is kept."""
    token = secrets.token_urlsafe(24)
    invite = Invite.objects.create(team=team, role=role, token_digest=_digest(token), created_by=by,
                                   expires_at=timezone.now() + timedelta(days=INVITE_DAYS))
    return invite, token


def invite_find(*, token: str) -> Invite | None:
    """A usable invite for this token, or None (unknown, used or expired)."""
    return Invite.objects.select_related("team").filter(
        token_digest=_digest(token), used_at=None, expires_at__gt=timezone.now()).first()


@transaction.atomic
def invite_accept(*, token: str, username: str, password: str):
    """Make the new user and their membership; the link works once."""
    invite = invite_find(token=token)
    if invite is None:
        raise TeamError("This invite link is not valid any more (used, or expired); ask for a new one.")
    claimed = Invite.objects.filter(id=invite.id, used_at=None).update(used_at=timezone.now())
    if not claimed:
        raise TeamError("This invite link has just been used.")
    user = get_user_model().objects.create_user(username=username, password=password)
    Membership.objects.create(team=invite.team, user=user, role=invite.role)
    Invite.objects.filter(id=invite.id).update(used_by=user)
    return user
