"""The chat page: the playground, its conversations, and sending a turn."""

import json
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any, cast

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import (
    HttpResponseClientRedirect,
    push_url,
    reswap,
    retarget,
    trigger_client_event,
)

from accounts.models import ModelEntry
from accounts.selectors import AuthenticatedHttpRequest, price_summaries
from playground import selectors
from playground.files import private_file_response
from playground.forms import WEB_SEARCH_FIELDS, TurnForm
from playground.models import Conversation, Message
from playground.orphans import replies_stop_and_settle
from playground.rendering import browser_rules
from playground.services import turns
from playground.services.replies import reply_start
from playground.views.common import payer
from runtime.kept import one_stamp

# What a view body that may start a reply gives back: that start (None: none) and its response.
type Prepared = tuple[turns.ReplyStart | None, Callable[[], HttpResponse]]


def _models_context() -> dict[str, Any]:
    """The picker: models by family, each with what it costs now and what it can do."""
    entries = list(ModelEntry.objects.chat())
    prices = price_summaries(models=[entry.name for entry in entries])
    specs = {}
    groups: dict[str, list] = {}
    for entry in entries:
        spec, price = entry.as_spec(), prices.get(entry.name)
        specs[entry.name] = spec.to_dict() | {
            "price": price.text if price else "no price set",
            "price_confirmed": price.confirmed if price else True,
        }
        groups.setdefault(spec.family or entry.get_kind_display(), []).append((entry, price))
    return {
        "model_groups": list(groups.items()),
        "model_specs": specs,
        "markdown_rules": browser_rules(),
    }


def _form_defaults(conversation: Conversation | None) -> dict[str, Any]:
    """The form starts from what the conversation last sent (or the first model's defaults)."""
    if conversation is None:
        return {"do_sample": True}
    last = conversation.messages.filter(role=Message.Role.ASSISTANT).last()
    params = dict(last.params) if last else {}
    stop = params.get("stop")
    return {
        "conversation": conversation.public_id,
        "model": conversation.model,
        "system": conversation.system,
        "temperature": params.get("temperature"),
        "top_p": params.get("top_p"),
        "max_tokens": params.get("max_tokens"),
        "seed": params.get("seed"),
        "do_sample": params.get("do_sample", True),
        "stop": stop[0] if isinstance(stop, list) and stop else (stop or ""),
        "thinking": (params.get("thinking") or {}).get("type", ""),
        "clear_thinking": (params.get("thinking") or {}).get("clear_thinking"),
        "reasoning_effort": params.get("reasoning_effort", ""),
        "response_format": (params.get("response_format") or {}).get("type", ""),
        **_web_search_defaults(params.get("tools") or []),
        "tools": _functions_text(params.get("tools") or []),
    }


def _functions_text(tools: list) -> str:
    """The function tools last sent, as the JSON the tools box shows."""
    functions = [
        tool for tool in tools if isinstance(tool, dict) and tool.get("type") == "function"
    ]
    return json.dumps(functions, ensure_ascii=False, indent=2) if functions else ""


def _web_search_defaults(tools: list) -> dict:
    """The web_search tool's settings as the form's fields, from the tools last sent."""
    for tool in tools:
        if isinstance(tool, dict) and tool.get("type") == "web_search":
            options = tool.get("web_search") or {}
            return {
                "web_search": True,
                **{name: options.get(name) for name in WEB_SEARCH_FIELDS if name in options},
            }
    return {}


def _transcript_context(conversation: Conversation | None) -> dict[str, Any]:
    messages = list(conversation.messages.prefetch_related("attachments")) if conversation else []
    messages = selectors.with_tool_results(messages)
    selectors.attach_usage(messages)
    last_user = next((m for m in reversed(messages) if m.role == Message.Role.USER), None)
    return {
        "conversation": conversation,
        "chat_messages": messages,
        "last_user_id": last_user.id if last_user else None,
    }


def _page(
    request: AuthenticatedHttpRequest,
    conversation: Conversation | None = None,
    form: TurnForm | None = None,
) -> HttpResponse:
    context = {
        **_transcript_context(conversation),
        "conversations": selectors.conversations_for_user(user=request.user),
        "form": form or TurnForm(initial=_form_defaults(conversation)),
        **_models_context(),
    }
    return render(request, "playground/index.html", context)


@require_GET
def index(request: AuthenticatedHttpRequest) -> HttpResponse:
    return _page(request)


@require_GET
def conversation_detail(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    conversation = selectors.get_conversation_for_user(user=request.user, public_id=public_id)
    return _page(request, conversation)


def form_errors(request: HttpRequest, form: TurnForm) -> HttpResponse:
    """Refusals keep everything the user typed: only the reasons change, the turn's in the box
    above the composer and each field's beside it."""
    response = render(request, "playground/_refusal.html", {"form": form})
    retarget(response, "#form-errors")
    reswap(response, "innerHTML")
    return response


def _refusal(request: HttpRequest, form: TurnForm) -> Prepared:
    return None, partial(form_errors, request, form)


def _refused(request: HttpRequest, form: TurnForm, refusal: Exception) -> Prepared:
    """A turn the service refused: its reason beside the field it is about, if one is."""
    form.add_error(getattr(refusal, "field", None), str(refusal))
    return _refusal(request, form)


def form_conversation(request: AuthenticatedHttpRequest, form: TurnForm) -> Conversation | None:
    """The conversation the form names (the user's own, else 404), or None for a new one."""
    public_id = form.cleaned_data["conversation"]
    if not public_id:
        return None
    return selectors.get_conversation_for_user(user=request.user, public_id=public_id)


def _send(request: AuthenticatedHttpRequest) -> Prepared:
    """Validate the turn and save it with its reply: (the reply's start or None, how to respond)."""
    form = TurnForm(request.POST, request.FILES)
    if not form.is_valid():
        return _refusal(request, form)
    assert form.spec is not None  # a valid form has its model's spec
    conversation = form_conversation(request, form)
    try:
        start = turns.turn_start(
            user=request.user,
            membership=payer(request),
            conversation=conversation,
            spec=form.spec,
            system=form.cleaned_data["system"],
            text=form.cleaned_data["message"],
            params=form.params(),
            images=form.uploads,
            image_urls=form.cleaned_data["image_urls"],
            reply_id=form.cleaned_data["reply"],
        )
    except turns.REFUSALS as refusal:
        return _refused(request, form, refusal)
    listening = form.cleaned_data["reply"] is not None
    return start, partial(
        _turn_response, request, start, is_new=conversation is None, listening=listening
    )


def _turn_response(
    request: HttpRequest, start: turns.ReplyStart, *, is_new: bool, listening: bool
) -> HttpResponse:
    """What changed: the user's message (and the reply, unless the page already shows it,
    listening), and for a new conversation its place in the sidebar and the page's URL."""
    reply = start.message
    conversation = reply.conversation
    if is_new:  # its sidebar entry names the team that pays, as the listed ones do
        assert reply.team is not None  # a reply is saved with the team that pays
        conversation.billed_team_id = reply.team_id
        conversation.billed_team_name = reply.team.name
        conversation.billed_personal = reply.team.personal_for_id
    context = {
        "conversation": conversation,
        "new_messages": [start.user_message] if listening else [start.user_message, reply],
        "is_new": is_new,
    }
    response = render(request, "playground/_turn.html", context)
    if listening:  # in front of the reply the page put up
        retarget(response, f"#reply-{reply.public_id}")
        reswap(response, "beforebegin")
    if is_new:
        push_url(response, conversation.get_absolute_url())
    trigger_client_event(response, "turn-sent")
    return response


async def _respond_then_generate[**P](
    prepare: Callable[P, Prepared], *args: P.args, **kwargs: P.kwargs
) -> HttpResponse:
    """Run a sync view body that may save a new reply, start that reply on this event loop
    (where it outlives the request) before rendering, so the upstream call begins at once."""
    # The catalogue and the prices the turn reads, as kept: checked against Redis once.
    start, respond = await sync_to_async(one_stamp()(prepare))(*args, **kwargs)
    if start is not None:
        reply_start(start.message.id, start.stream, start.body)
    return await sync_to_async(respond)()


@require_POST
async def send(request: AuthenticatedHttpRequest) -> HttpResponse:
    return await _respond_then_generate(_send, request)


def _rerun(
    request: AuthenticatedHttpRequest,
    public_id: uuid.UUID,
    *,
    edit: bool = False,
    answers: bool = False,
) -> Prepared:
    """Regenerate the last reply, edit the last message and resend it, or (``answers``) send the
    results of the last reply's function calls: each continues the conversation from its history."""
    conversation = selectors.get_conversation_for_user(user=request.user, public_id=public_id)
    form = TurnForm(request.POST, require_message=edit)
    if not form.is_valid():
        return _refusal(request, form)
    assert form.spec is not None  # a valid form has its model's spec
    common: dict[str, Any] = {
        "conversation": conversation,
        "membership": payer(request),
        "spec": form.spec,
        "params": form.params(),
    }
    try:
        if edit:
            start = turns.turn_edit_last(**common, text=form.cleaned_data["message"])
        elif answers:
            start = turns.turn_tool_results(**common, results=_results_posted(request))
        else:
            start = turns.turn_regenerate(**common)
    except turns.REFUSALS as refusal:
        return _refused(request, form, refusal)
    return start, partial(_transcript_response, request, conversation, edit=edit)


MAX_RESULT_CHARS = 100000


def _results_posted(request: HttpRequest) -> list[tuple[str, str]]:
    """(call id, result) pairs as the results form sends them; a call left unanswered is the
    service's to refuse."""
    ids, texts = request.POST.getlist("tool_call_id"), request.POST.getlist("content")
    if any(len(text) > MAX_RESULT_CHARS for text in texts):
        raise turns.TurnRefused(
            f"A function's result can be at most {MAX_RESULT_CHARS} characters."
        )
    return list(zip(ids, texts, strict=False))


def _transcript_response(
    request: HttpRequest, conversation: Conversation, *, edit: bool
) -> HttpResponse:
    response = render(
        request, "playground/index.html#transcript", _transcript_context(conversation)
    )
    retarget(response, "#transcript")
    reswap(response, "innerHTML")
    if edit:
        trigger_client_event(response, "turn-sent")
    return response


@require_POST
async def regenerate(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    return await _respond_then_generate(_rerun, request, public_id, edit=False)


@require_POST
async def edit_last(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    return await _respond_then_generate(_rerun, request, public_id, edit=True)


@require_POST
async def tool_results(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    return await _respond_then_generate(_rerun, request, public_id, answers=True)


@require_POST
def rename(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    conversation = selectors.get_conversation_for_user(user=request.user, public_id=public_id)
    turns.conversation_rename(conversation=conversation, title=request.POST.get("title", ""))
    response = render(
        request,
        "playground/index.html#sidebar",
        {
            "conversation": conversation,
            "conversations": selectors.conversations_for_user(user=request.user),
        },
    )
    trigger_client_event(response, "renamed", {"title": conversation.title})
    return response


@require_POST
async def delete(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """Running replies are stopped, saved and billed first; then the conversation goes."""
    user = cast(User, await request.auser())  # signed in: LoginRequiredMiddleware
    conversation = await sync_to_async(selectors.get_conversation_for_user)(
        user=user, public_id=public_id
    )
    await replies_stop_and_settle(conversation.id)
    await sync_to_async(turns.conversation_delete)(conversation=conversation)
    if request.htmx:
        return HttpResponseClientRedirect(reverse("playground:index"))
    return redirect("playground:index")


@require_GET
def attachment(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> StreamingHttpResponse:
    image = selectors.get_attachment_for_user(user=request.user, public_id=public_id)
    return private_file_response(
        image.file,
        content_type=image.content_type,
        filename=image.name,
        download="download" in request.GET,
    )
