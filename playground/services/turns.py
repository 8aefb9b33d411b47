"""Writes for chat turns: conversations, the user's message, and the reply-to-be with its worst
case held (the reply itself runs in :mod:`playground.services.replies`)."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from accounts.models import Membership
from accounts.services.holds import SpendRefused, chat_worst_case, hold_place
from bigmodel.catalogue import ModelSpec
from bigmodel.images import ImageInfo, uploads_problem
from bigmodel.params import build_chat_body, keeps_thinking
from playground.models import Attachment, Conversation, Message
from playground.reply_stream import ReplyStream
from playground.selectors import history_messages, history_sent, images_in
from runtime.locks import rows_lock

TITLE_LENGTH = 60


class TurnRefused(Exception):
    """A turn that cannot start now, in words for the user; nothing was saved or sent. ``field``:
    the turn's field it is about, if one is."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# What a view shows in place of a turn or a generation that was not started.
REFUSALS = (TurnRefused, SpendRefused)


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1] + "…"


@dataclass(frozen=True)
class ReplyStart:
    """A reply saved as running, its live stream and the exact request body its runner sends
    upstream (its request id names the hold that says who pays)."""

    message: Message
    stream: ReplyStream
    body: dict
    user_message: Message | None = None  # the turn's, when the turn has a new one


def _check_running_replies(user: User) -> None:
    # One admission per user at a time; NO KEY UPDATE leaves rows that point at the user writable.
    rows_lock(get_user_model().objects.filter(id=user.id))
    running = Message.objects.filter(conversation__user=user, status=Message.Status.RUNNING).count()
    if running >= settings.MAX_RUNNING_REPLIES_PER_USER:
        raise TurnRefused(
            f"You have {running} replies being written already (at most "
            f"{settings.MAX_RUNNING_REPLIES_PER_USER} at a time); "
            "wait for one to finish or stop one."
        )


def _history_checked(
    conversation: Conversation, spec: ModelSpec, *, uploads: int = 0, links: int = 0
) -> list[Message]:
    """The conversation's history, read once for the turn, and the images it carries with the
    turn's new ``uploads`` and ``links`` held to the model's limits (a model that reads no images
    is sent the text alone, so its history's images are no matter)."""
    if spec.images is None:
        return history_messages(conversation=conversation)
    kept = history_messages(conversation=conversation, with_images=True)
    earlier = images_in(kept)
    if problem := uploads_problem(
        spec, new=uploads, earlier=earlier.uploads, links=links, earlier_links=earlier.links
    ):
        raise TurnRefused(problem, field="image" if uploads else "image_urls")
    return kept


def _reply_again(
    *, conversation: Conversation, spec: ModelSpec, params: dict, membership: Membership
) -> ReplyStart:
    """A new reply after the conversation's history as it now stands (rerun, edit, results)."""
    conversation.save(update_fields=["updated_at"])
    return _start_reply(
        conversation=conversation,
        spec=spec,
        params=params,
        membership=membership,
        history=_history_checked(conversation, spec),
    )


def _start_reply(
    *,
    conversation: Conversation,
    spec: ModelSpec,
    params: dict,
    membership: Membership,
    history: list[Message],
    reply_id: uuid.UUID | None = None,
) -> ReplyStart:
    """The assistant message for the next upstream call, after ``history``, with its worst case
    held. It is running from birth: the process that saves it starts its one runner straight away
    (a dead process is the sweeper's to tidy). ``reply_id`` names it when the browser chose the
    name, to listen to its stream while this request runs."""
    _check_running_replies(conversation.user)
    reply_id = reply_id or uuid.uuid4()
    if Message.objects.filter(public_id=reply_id).exists():
        raise TurnRefused("This page sent a reply id that is already used; reload the page.")
    request_id = uuid.uuid4().hex
    messages = history_sent(
        conversation,
        history,
        with_images=spec.images is not None,
        keep_thinking=keeps_thinking(params),
    )
    body = build_chat_body(spec, messages=messages, stream=True, request_id=request_id, **params)
    hold_place(membership=membership, request_id=request_id, call=chat_worst_case(spec, body))
    sent = {
        key: value for key, value in body.items() if key not in ("messages", "stream", "request_id")
    }
    message = Message.objects.create(
        public_id=reply_id,
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.RUNNING,
        model=spec.name,
        params=sent,
        request_id=request_id,
        team=membership.team,
        started_at=timezone.now(),
    )
    stream = ReplyStream(user_id=conversation.user_id, public_id=reply_id)
    return ReplyStart(message=message, stream=stream, body=body)


def _lock(conversation: Conversation) -> None:
    """One change to a conversation's end at a time: regenerate, edit and results sent together
    are done one after the other, each on what the one before left."""
    rows_lock(Conversation.objects.filter(id=conversation.id), no_key=False)


@dataclass(frozen=True)
class Upload:
    """An image file the user attached, already checked."""

    file: UploadedFile
    info: ImageInfo


@transaction.atomic
def turn_start(
    *,
    user: User,
    membership: Membership,
    conversation: Conversation | None,
    spec: ModelSpec,
    system: str,
    text: str,
    params: dict,
    images: Sequence[Upload] = (),
    image_urls: Sequence[str] = (),
    reply_id: uuid.UUID | None = None,
) -> ReplyStart:
    """Save the user's message (with its images, moved into private storage) and its reply-to-be,
    once every check before a turn has passed: no reply of the conversation still being written,
    the images of its history and of the turn within the model's limits, the user's replies at
    once, the hold. Raises one of REFUSALS, leaving nothing saved."""
    if conversation is None:
        conversation = Conversation.objects.create(
            user=user, title=_title_from(text), model=spec.name, system=system
        )
        history: list[Message] = []
    else:
        _lock(conversation)
        if conversation.messages.filter(status=Message.Status.RUNNING).exists():
            raise TurnRefused("A reply is still being written; wait for it or press Stop.")
        # Checked before anything is saved: the images are moved into storage below.
        history = _history_checked(conversation, spec, uploads=len(images), links=len(image_urls))
        conversation.model = spec.name
        conversation.system = system
        conversation.save(update_fields=["model", "system", "updated_at"])
    message = Message.objects.create(
        conversation=conversation, role=Message.Role.USER, content=text, image_urls=list(image_urls)
    )
    for upload in images:
        assert upload.file.name is not None  # the form takes only named files
        Attachment.objects.create(
            owner=user,
            team=membership.team,
            message=message,
            file=upload.file,
            name=upload.file.name[:255],
            content_type=upload.info.content_type,
            width=upload.info.width,
            height=upload.info.height,
            size=upload.info.size,
        )
    start = _start_reply(
        conversation=conversation,
        spec=spec,
        params=params,
        membership=membership,
        history=[*history, message],
        reply_id=reply_id,
    )
    return replace(start, user_message=message)


@transaction.atomic
def turn_regenerate(
    *, conversation: Conversation, membership: Membership, spec: ModelSpec, params: dict
) -> ReplyStart:
    """Replace the last reply with a new one from the same history."""
    _lock(conversation)
    last = conversation.messages.last()
    if last is not None and last.role == Message.Role.ASSISTANT:
        if last.is_live:
            raise TurnRefused("The last reply is still being written; stop it first.")
        last.delete()
    return _reply_again(conversation=conversation, spec=spec, params=params, membership=membership)


@transaction.atomic
def turn_tool_results(
    *,
    conversation: Conversation,
    membership: Membership,
    spec: ModelSpec,
    results: Sequence[tuple[str, str]],
    params: dict,
) -> ReplyStart:
    """Save the user's result for each function the last reply called, ``(call id, text)``, and
    continue the turn with them. The conversation is locked first: results sent twice are
    answered once."""
    _lock(conversation)
    last = conversation.messages.last()
    if last is not None and last.is_live:
        raise TurnRefused("The last reply is still being written; wait for its calls.")
    if last is None or last.role != Message.Role.ASSISTANT or not last.tool_calls:
        raise TurnRefused("The last reply called no function; there is nothing to answer.")
    if not spec.tools:
        raise TurnRefused(f"{spec.label} does not call functions: pick one that does to go on.")
    if params.get("tools") is None:  # the box was emptied: the functions the calls were made from
        params = {**params, "tools": _functions_sent(last.params)}
    given = dict(results)
    missing = [call["function"]["name"] for call in last.tool_calls if call["id"] not in given]
    if missing or len(given) != len(last.tool_calls):
        raise TurnRefused(
            f"Give a result for each function call (missing: {', '.join(missing) or 'none'})."
        )
    Message.objects.bulk_create(
        Message(
            conversation=conversation,
            role=Message.Role.TOOL,
            tool_call_id=call["id"],
            content=given[call["id"]],
        )
        for call in last.tool_calls
    )
    return _reply_again(conversation=conversation, spec=spec, params=params, membership=membership)


def _functions_sent(params: dict) -> list[dict] | None:
    functions = [tool for tool in params.get("tools") or () if tool.get("type") == "function"]
    return functions or None


@transaction.atomic
def turn_edit_last(
    *, conversation: Conversation, membership: Membership, spec: ModelSpec, text: str, params: dict
) -> ReplyStart:
    """Change the last user message and send it again (the reply after it is replaced)."""
    _lock(conversation)
    last_user = conversation.messages.filter(role=Message.Role.USER).last()
    if last_user is None:
        raise TurnRefused("There is no message to edit yet.")
    later = conversation.messages.filter(id__gt=last_user.id)
    if any(message.is_live for message in later):
        raise TurnRefused("The last reply is still being written; stop it first.")
    later.delete()
    last_user.content = text
    last_user.save(update_fields=["content"])
    return _reply_again(conversation=conversation, spec=spec, params=params, membership=membership)


def conversation_rename(*, conversation: Conversation, title: str) -> Conversation:
    conversation.title = _title_from(title) or conversation.title
    conversation.save(update_fields=["title", "updated_at"])
    return conversation


def conversation_delete(*, conversation: Conversation) -> None:
    conversation.delete()
