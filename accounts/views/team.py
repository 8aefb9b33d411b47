"""The team page: members, roles, caps, invites, billing; making and switching teams."""

from collections.abc import Callable, Iterable
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.forms import ChoiceField
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import money, reports
from accounts.forms import (
    AcceptInviteForm,
    AddMemberForm,
    BillingForm,
    InviteForm,
    MemberForm,
    NewTeamForm,
)
from accounts.models import (
    Membership,
    Pack,
)
from accounts.selectors import (
    AuthenticatedHttpRequest,
    get_membership_for_user,
    require_membership,
    team_for_member,
)
from accounts.services import teams
from accounts.views.common import MONEY_IS_STAFFS, activate_team, manager_membership


def _team_page(
    request: AuthenticatedHttpRequest, membership: Membership, **extra: Any
) -> HttpResponse:
    team = membership.team
    roles = _grantable_roles(membership)
    add_form, invite_form = extra.pop("add_form", AddMemberForm()), InviteForm()
    invite_role = cast(ChoiceField, invite_form.fields["role"])  # a ChoiceField, as declared
    add_form.fields["role"].choices = invite_role.choices = roles
    members = _member_rows(membership, Membership.objects.filter(team=team).select_related("user"))
    return render(
        request,
        "accounts/team.html",
        {
            "membership": membership,
            "team": team,
            "members": members,
            "packs": Pack.objects.filter(team=team).order_by("expired", "expires_at"),
            "add_form": add_form,
            "invite_form": invite_form,
            "billing_form": BillingForm(initial={"billing": team.billing}),
            "may_manage_money": teams.may_manage_money(user=request.user, membership=membership),
            "new_team_form": extra.pop("new_team_form", NewTeamForm()),
            "may_create_team": teams.personal_team_allowed(user=request.user),
            "roles": roles,
            **extra,
        },
    )


def _member_rows(viewer: Membership, members: Iterable[Membership]) -> list[Membership]:
    """Members with what their row shows: this month's spend, and whether the viewer may change it
    (an owner's row is the owners' to change)."""
    spends = reports.member_spends(viewer.team)
    rows = list(members)
    for member in rows:
        member.editable = viewer.manages and (
            member.role != Membership.Role.OWNER or viewer.role == Membership.Role.OWNER
        )
        member.month_nano = spends.get(member.user_id, 0)
        cap = member.monthly_cap_nano
        member.cap_percent = (
            min(100, member.month_nano * 100 // cap) if cap else (100 if cap == 0 else None)
        )
    return rows


def _member_row(
    request: HttpRequest,
    manager: Membership,
    member: Membership,
    *,
    form: MemberForm | None = None,
    saved: str = "",
    status: int = 200,
) -> HttpResponse:
    """One member's row of the Team page, as htmx swaps it in after a change."""
    row = _member_rows(manager, [member])[0]
    return render(
        request,
        "accounts/team.html#member-row",
        {
            "m": row,
            "membership": manager,
            "team": manager.team,
            "roles": _grantable_roles(manager),
            "row_form": form,
            "saved": saved,
        },
        status=status,
    )


def _grantable_roles(membership: Membership) -> list[tuple[str, str]]:
    """The roles this member may hand out: an owner's only from an owner."""
    return [
        (value, label)
        for value, label in Membership.Role.choices
        if value != Membership.Role.OWNER or membership.role == Membership.Role.OWNER
    ]


@require_GET
def team(request: AuthenticatedHttpRequest) -> HttpResponse:
    return _team_page(request, require_membership(request))


def _run(request: HttpRequest, action: Callable[[], object]) -> None:
    try:
        action()
    except teams.TeamError as problem:
        messages.error(request, str(problem))


@require_POST
def team_add(request: AuthenticatedHttpRequest) -> HttpResponse:
    membership = manager_membership(request)
    form = AddMemberForm(request.POST)
    if not form.is_valid():
        return _team_page(request, membership, add_form=form)
    _run(
        request,
        lambda: teams.member_add(
            team=membership.team, user=form.user, role=form.cleaned_data["role"], by=membership
        ),
    )
    return redirect("accounts:team")


@require_POST
def team_invite(request: AuthenticatedHttpRequest) -> HttpResponse:
    membership = manager_membership(request)
    form = InviteForm(request.POST)
    if not form.is_valid():
        return redirect("accounts:team")
    try:
        invite, token = teams.invite_create(
            team=membership.team, role=form.cleaned_data["role"], by=membership
        )
    except teams.TeamError as problem:
        messages.error(request, str(problem))
        return redirect("accounts:team")
    link = request.build_absolute_uri(reverse("accounts:invite", args=[token]))
    return _team_page(request, membership, invite_link=link, invite=invite)


@require_POST
def team_member(request: AuthenticatedHttpRequest, membership_id: int) -> HttpResponse:
    """A member's role and cap. htmx gets the row back, saying what was saved or what is wrong, next
    to the field; a plain form post goes back to the page."""
    manager = manager_membership(request)
    member = team_for_member(team=manager.team, membership_id=membership_id)
    form = MemberForm(request.POST)
    if form.is_valid():
        try:
            if form.cleaned_data["role"] != member.role:
                teams.member_set_role(membership=member, role=form.cleaned_data["role"], by=manager)
            teams.member_set_cap(membership=member, cap_nano=form.cleaned_data["cap"], by=manager)
        except teams.TeamError as problem:
            form.add_error(None, str(problem))
    name = member.user.get_username()
    if not request.htmx:
        if form.errors:
            messages.error(request, f"{name}: {form.problems()}")
        else:
            messages.success(request, f"Saved {name}'s role and cap.")
        return redirect("accounts:team")
    member.refresh_from_db()
    if form.errors:
        return _member_row(request, manager, member, form=form)
    return _member_row(
        request,
        manager,
        member,
        saved=f"Saved: {member.role}, "
        + (
            f"cap {money.yuan(member.monthly_cap_nano)} a month"
            if member.monthly_cap_nano is not None
            else "no cap"
        ),
    )


@require_POST
def team_remove(request: AuthenticatedHttpRequest, membership_id: int) -> HttpResponse:
    manager = manager_membership(request)
    member = team_for_member(team=manager.team, membership_id=membership_id)
    _run(request, lambda: teams.member_remove(membership=member, by=manager))
    return redirect("accounts:team")


@require_POST
def team_billing(request: AuthenticatedHttpRequest) -> HttpResponse:
    membership = require_membership(request)
    if not teams.may_manage_money(user=request.user, membership=membership):
        raise PermissionDenied(MONEY_IS_STAFFS)
    form = BillingForm(request.POST)
    if form.is_valid():
        teams.team_set_billing(team=membership.team, billing=form.cleaned_data["billing"])
    return redirect("accounts:team")


@require_POST
def team_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = NewTeamForm(request.POST)
    if not form.is_valid():
        return _team_page(request, require_membership(request), new_team_form=form)
    try:
        team = teams.team_create(name=form.cleaned_data["name"], owner=request.user)
    except teams.TeamError as problem:
        messages.error(request, str(problem))
        return redirect("accounts:team")
    activate_team(request, team.id)
    return redirect("accounts:team")


@require_POST
def team_switch(request: AuthenticatedHttpRequest) -> HttpResponse:
    membership = get_membership_for_user(user=request.user, team_id=request.POST.get("team"))
    activate_team(request, membership.team_id)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("accounts:dashboard")
    return redirect(back)


@login_not_required
@require_http_methods(["GET", "POST"])
def invite_accept(request: HttpRequest, token: str) -> HttpResponse:
    invite = teams.invite_find(token=token)
    form = AcceptInviteForm(request.POST or None)
    if request.method == "POST" and invite is not None and form.is_valid():
        try:
            user = teams.invite_accept(
                token=token,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password"],
            )
        except teams.TeamError as problem:
            form.add_error(None, str(problem))
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            activate_team(request, invite.team_id)
            return redirect("playground:index")
    return render(request, "accounts/invite.html", {"invite": invite, "form": form})
