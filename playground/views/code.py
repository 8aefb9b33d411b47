""" "View code": the turn being typed as code a member runs with their own API key, against this
console's BigModel-compatible endpoint (the site's upstream and its key are never in it)."""

from typing import Any

from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.models import Membership
from accounts.selectors import AuthenticatedHttpRequest, active_membership, visible_keys
from bigmodel.params import sdk_changes
from playground import snippets
from playground.forms import TurnForm
from playground.views.chat import form_conversation, form_errors


def _console_endpoint(request: HttpRequest) -> str:
    """This console's BigModel-compatible endpoint, absolute, as members' keys call it (BigModel's
    own base URL ends where its paths begin, as this one does)."""
    path = reverse("gateway:chat").removesuffix("chat/completions")
    return request.build_absolute_uri(path).rstrip("/")


def _team_name(membership: Membership, user: User) -> str:
    """A team as the page names it: "Personal" for the user's own."""
    team = membership.team
    return "Personal" if team.personal_for_id == user.id else team.name


def _key_problem(membership: Membership | None, user: User, model: str) -> str:
    """What keeps the member from running the code as shown: "none" (no usable API key of theirs
    for the paying team), "model" (none of theirs may call ``model``), or ""."""
    if membership is None:
        return "none"
    mine = visible_keys(membership=membership).filter(user=user)
    keys = [key for key in mine if not key.refusal()]
    if not keys:
        return "none"
    if not any(key.allows(model) for key in keys):
        return "model"
    return ""


def _key_context(request: AuthenticatedHttpRequest, model: str) -> dict[str, Any]:
    """Where the code calls, where it reads the key, and whether the member has one to use."""
    membership = active_membership(request)
    return {
        "endpoint": _console_endpoint(request),
        "key_variable": snippets.KEY_VARIABLE,
        "key_problem": _key_problem(membership, request.user, model),
        "team_name": _team_name(membership, request.user) if membership else "",
        "model": model,
    }


@require_POST
def view_code(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = TurnForm(request.POST, require_message=False)
    if not form.is_valid():
        return form_errors(request, form)
    assert form.spec is not None  # a valid form has its model's spec
    conversation = form_conversation(request, form)
    body = snippets.request_body(
        conversation=conversation,
        spec=form.spec,
        system=form.cleaned_data["system"],
        text=form.cleaned_data["message"],
        params=form.params(),
        image_names=request.POST.getlist("image_name"),
        image_urls=form.cleaned_data["image_urls"],
    )
    return render(
        request,
        "playground/_code.html",
        {
            "snippets": snippets.render_all(body, _console_endpoint(request)),
            "body_json": snippets.body_json(body),
            "changes": sdk_changes(form.params()),
            **_key_context(request, form.spec.name),
        },
    )
