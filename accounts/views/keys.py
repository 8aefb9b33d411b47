"""Members' API keys for the console's own endpoint: made (the key shown once, on the page that
made it), listed masked with what each spent this month, rotated, revoked."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.forms import KeyForm
from accounts.models import ApiKey, Membership
from accounts.selectors import (
    AuthenticatedHttpRequest,
    keys_for,
    require_membership,
    visible_keys,
)
from accounts.services.keys import GRACES, KeyNotMade, key_create, key_revoke, key_rotate


def _page(
    request: HttpRequest,
    membership: Membership,
    *,
    form: KeyForm | None = None,
    made: dict[str, ApiKey | str] | None = None,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "accounts/keys.html",
        {
            "membership": membership,
            "keys": keys_for(membership=membership),
            "form": form or KeyForm(),
            "made": made,
            "graces": GRACES,
            "endpoint": request.build_absolute_uri("/api/paas/v4/"),
        },
        status=status,
    )


@require_GET
def keys(request: AuthenticatedHttpRequest) -> HttpResponse:
    return _page(request, require_membership(request))


@require_POST
def make(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The new key is on this response only: it is kept nowhere that could show it again."""
    membership = require_membership(request)
    form = KeyForm(request.POST)
    if not form.is_valid():
        return _page(request, membership, form=form, status=400)
    try:
        key, raw = key_create(
            user=request.user,
            team=membership.team,
            name=form.cleaned_data["name"],
            models=form.cleaned_data["models"],
            expires_on=form.cleaned_data["expires"],
            budget_nano=form.cleaned_data["budget"],
            budget_period=form.cleaned_data["period"],
            rpm=form.cleaned_data["rpm"],
            concurrency=form.cleaned_data["concurrency"],
        )
    except KeyNotMade as problem:
        form.add_error(None, str(problem))
        return _page(request, membership, form=form, status=400)
    return _shown_once(request, membership, key, raw)


def _shown_once(
    request: HttpRequest, membership: Membership, key: ApiKey, raw: str
) -> HttpResponse:
    response = _page(request, membership, made={"key": key, "raw": raw})
    response["Cache-Control"] = "no-store"  # the one page with the key on it stays nowhere
    return response


@require_POST
def rotate(request: AuthenticatedHttpRequest, key_id: int) -> HttpResponse:
    """Only a key's own member rotates it (the new secret is shown to whoever rotates); the
    secret it replaces works for the grace they pick."""
    membership = require_membership(request)
    key = get_object_or_404(ApiKey, id=key_id, team=membership.team, user=request.user)
    grace = GRACES.get(request.POST.get("grace", ""))
    try:
        if grace is None:
            raise KeyNotMade("Pick how long the old secret keeps working.")
        key, raw = key_rotate(key=key, grace=grace[1])
    except KeyNotMade as problem:
        messages.error(request, str(problem))
        return redirect("accounts:keys")
    return _shown_once(request, membership, key, raw)


@require_POST
def revoke(request: AuthenticatedHttpRequest, key_id: int) -> HttpResponse:
    """A member revokes their own keys; the team's owners and admins any of the team's."""
    membership = require_membership(request)
    key = get_object_or_404(visible_keys(membership=membership), id=key_id)
    key_revoke(key=key, by=request.user)
    messages.success(request, f"Revoked {key}: it is refused from now on.")
    return redirect("accounts:keys")
