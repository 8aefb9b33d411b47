"""Teams, members, roles, caps and invites."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from accounts.models import Invite, Membership, Team
from accounts.services.keys import keys_revoke_member
from runtime.locks import rows_lock

INVITE_DAYS = 7


class TeamError(ValueError):
    """Something a team admin asked for that cannot be done, in words for them."""


def personal_team_allowed(*, user: User) -> bool:
    """Site staff always have a personal team; other users only where PERSONAL_TEAMS allows."""
    return user.is_staff or settings.PERSONAL_TEAMS


def _billing_for_teams_made_by(user: User) -> str:
    """Every call is paid with the site's one key: a team nobody on the staff set up (a user's own,
    personal or made by them) starts as PERSONAL_TEAM_BILLING (prepaid with no cash by default)."""
    return settings.DEFAULT_TEAM_BILLING if user.is_staff else settings.PERSONAL_TEAM_BILLING


def team_create(*, name: str, owner: User, personal: bool = False) -> Team:
    if not personal_team_allowed(user=owner):
        raise TeamError("Only site admins can make teams here.")
    team = Team.objects.create(
        name=name,
        billing=_billing_for_teams_made_by(owner),
        personal_for=owner if personal else None,
    )
    Membership.objects.create(team=team, user=owner, role=Membership.Role.OWNER)
    return team


def team_ensure_personal(*, user: User) -> Team:
    """Every user has a team named after them; made with the user."""
    existing = Team.objects.filter(personal_for=user).first()
    return existing or team_create(name=user.get_username(), owner=user, personal=True)


def may_manage_money(*, user: User, membership: Membership | None) -> bool:
    """Cash top-ups and billing modes are site staff's: the site's key pays for every call. With
    TEAM_OWNERS_MAY_TOP_UP=1 a team's owners may too."""
    return user.is_staff or (
        settings.TEAM_OWNERS_MAY_TOP_UP
        and membership is not None
        and membership.role == Membership.Role.OWNER
    )


def team_set_billing(*, team: Team, billing: str) -> Team:
    if billing not in Team.Billing.values:
        raise TeamError(f"“{billing}” is not a billing mode.")
    team.billing = billing
    team.save(update_fields=["billing"])
    return team


# Role changes take the team's row lock first, so they happen one at a time per team: two owners
# demoting each other at once cannot leave the team with none, and whoever acts is re-read as they
# are now (an owner demoted a moment ago acts as an admin).


def _locked(team: Team, by: Membership) -> Membership:
    rows_lock(Team.objects.filter(id=team.id))
    current = Membership.objects.filter(id=by.id, team=team).first()
    if current is None:
        raise TeamError("You are no longer a member of this team.")
    return current


def _owner_only(by: Membership, what: str) -> None:
    if by.role != Membership.Role.OWNER:
        raise TeamError(f"Only an owner can {what}.")


def _owners(team: Team) -> int:
    return Membership.objects.filter(team=team, role=Membership.Role.OWNER).count()


def _check_role(role: str) -> None:
    if role not in Membership.Role.values:
        raise TeamError(f"“{role}” is not a role.")


@transaction.atomic
def member_add(
    *, team: Team, user: User, role: str = Membership.Role.MEMBER, by: Membership
) -> Membership:
    _check_role(role)
    by = _locked(team, by)
    if role == Membership.Role.OWNER:
        _owner_only(by, "add an owner")
    if Membership.objects.filter(team=team, user=user).exists():
        raise TeamError(f"{user.get_username()} is already a member of {team.name}.")
    return Membership.objects.create(team=team, user=user, role=role)


@transaction.atomic
def member_set_role(*, membership: Membership, role: str, by: Membership) -> Membership:
    _check_role(role)
    by = _locked(membership.team, by)
    membership.refresh_from_db(fields=["role"])
    if Membership.Role.OWNER in (role, membership.role) and role != membership.role:
        _owner_only(by, "make or unmake owners")
    if (
        membership.role == Membership.Role.OWNER
        and role != Membership.Role.OWNER
        and _owners(membership.team) == 1
    ):
        raise TeamError("A team needs an owner: make someone else owner first.")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def member_remove(*, membership: Membership, by: Membership) -> None:
    by = _locked(membership.team, by)
    membership.refresh_from_db(fields=["role"])
    if membership.role == Membership.Role.OWNER:
        _owner_only(by, "remove an owner")
        if _owners(membership.team) == 1:
            raise TeamError("A team needs an owner: make someone else owner first.")
    if membership.team.personal_for_id == membership.user_id:
        raise TeamError("A personal team keeps its user.")
    keys_revoke_member(
        team=membership.team,
        user=membership.user,
        by=by.user,
        because=f"{membership.user.get_username()} was removed from {membership.team.name}",
    )
    membership.delete()


@transaction.atomic
def member_set_cap(*, membership: Membership, cap_nano: int | None, by: Membership) -> Membership:
    """Admins set members' caps; an admin's or an owner's cap is the owners' to set."""
    if cap_nano is not None and cap_nano < 0:
        raise TeamError("A cap cannot be negative.")
    by = _locked(membership.team, by)
    membership.refresh_from_db(fields=["role", "monthly_cap_nano"])
    if membership.monthly_cap_nano == cap_nano:
        return membership
    if membership.role != Membership.Role.MEMBER:
        _owner_only(by, f"change the cap of an {membership.role}")
    membership.monthly_cap_nano = cap_nano
    membership.save(update_fields=["monthly_cap_nano"])
    return membership


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def invite_create(*, team: Team, role: str, by: Membership) -> tuple[Invite, str]:
    """The invite and its token. The token is shown once (in the link); only its digest is kept."""
    _check_role(role)
    by = _locked(team, by)
    if role == Membership.Role.OWNER:
        _owner_only(by, "invite an owner")
    token = secrets.token_urlsafe(24)
    invite = Invite.objects.create(
        team=team,
        role=role,
        token_digest=_digest(token),
        created_by=by.user,
        expires_at=timezone.now() + timedelta(days=INVITE_DAYS),
    )
    return invite, token


def invite_find(*, token: str) -> Invite | None:
    """A usable invite for this token, or None (unknown, used or expired)."""
    return (
        Invite.objects.select_related("team")
        .filter(token_digest=_digest(token), used_at=None, expires_at__gt=timezone.now())
        .first()
    )


@transaction.atomic
def invite_accept(*, token: str, username: str, password: str) -> User:
    """Make the new user and their membership; the link works once."""
    invite = invite_find(token=token)
    if invite is None:
        raise TeamError(
            "This invite link is not valid any more (used, or expired); ask for a new one."
        )
    claimed = Invite.objects.filter(id=invite.id, used_at=None).update(used_at=timezone.now())
    if not claimed:
        raise TeamError("This invite link has just been used.")
    user = get_user_model().objects.create_user(username=username, password=password)
    Membership.objects.create(team=invite.team, user=user, role=invite.role)
    Invite.objects.filter(id=invite.id).update(used_by=user)
    return user
