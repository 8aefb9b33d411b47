"""Writes for the playground: conversations, turns and the generation's life cycle."""

import uuid
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from bigmodel.catalogue import ModelSpec
from bigmodel.params import build_chat_body
from playground.models import Conversation, Message
from playground.selectors import history_for

TITLE_LENGTH = 60


@dataclass(frozen=True)
class Outcome:
    """How a generation ended, as the runner saw it."""

    status: str
    content: str
    finish_reason: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    usage_exact: bool = True
    ttft_ms: int | None = None
    latency_ms: int | None = None
    error_code: str = ""
    error_message: str = ""


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1] + "…"


@dataclass(frozen=True)
class ReplyStart:
    """A reply saved as running, and the exact request body its runner sends upstream."""

    message: Message
    body: dict


def _start_reply(*, conversation: Conversation, spec: ModelSpec, params: dict) -> ReplyStart:
    """The assistant message for the next upstream call. It is running from birth: the process
    that saves it starts its one runner straight away (a dead process is the sweeper's to tidy)."""
    request_id = uuid.uuid4().hex
    messages = history_for(conversation=conversation)
    body = build_chat_body(spec, messages=messages, stream=True, request_id=request_id, **params)
    sent = {key: value for key, value in body.items() if key not in ("messages", "stream", "request_id")}
    message = Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.RUNNING,
        model=spec.name,
        params=sent,
        request_id=request_id,
        started_at=timezone.now(),
    )
    return ReplyStart(message=message, body=body)


@transaction.atomic
def turn_start(*, user, conversation: Conversation | None, spec: ModelSpec, system: str,
               text: str, params: dict) -> ReplyStart:
    """Save the user's message and its reply-to-be."""
    if conversation is None:
        conversation = Conversation.objects.create(user=user, title=_title_from(text), model=spec.name,
                                                   system=system)
    else:
        conversation.model = spec.name
        conversation.system = system
        conversation.save(update_fields=["model", "system", "updated_at"])
    Message.objects.create(conversation=conversation, role=Message.Role.USER, content=text)
    return _start_reply(conversation=conversation, spec=spec, params=params)


@transaction.atomic
def turn_regenerate(*, conversation: Conversation, spec: ModelSpec, params: dict) -> ReplyStart:
    """Replace the last reply with a new one from the same history."""
    last = conversation.messages.last()
    if last is not None and last.role == Message.Role.ASSISTANT:
        if last.is_live:
            raise ValueError("The last reply is still being written; stop it first.")
        last.delete()
    conversation.save(update_fields=["updated_at"])
    return _start_reply(conversation=conversation, spec=spec, params=params)


@transaction.atomic
def turn_edit_last(*, conversation: Conversation, spec: ModelSpec, text: str, params: dict) -> ReplyStart:
    """Change the last user message and send it again (the reply after it is replaced)."""
    last_user = conversation.messages.filter(role=Message.Role.USER).last()
    if last_user is None:
        raise ValueError("There is no message to edit yet.")
    later = conversation.messages.filter(id__gt=last_user.id)
    if any(message.is_live for message in later):
        raise ValueError("The last reply is still being written; stop it first.")
    later.delete()
    last_user.content = text
    last_user.save(update_fields=["content"])
    conversation.save(update_fields=["updated_at"])
    return _start_reply(conversation=conversation, spec=spec, params=params)


def conversation_rename(*, conversation: Conversation, title: str) -> Conversation:
    conversation.title = _title_from(title) or conversation.title
    conversation.save(update_fields=["title", "updated_at"])
    return conversation


def conversation_delete(*, conversation: Conversation) -> None:
    conversation.delete()


@transaction.atomic
def generation_finish(*, message_id: int, outcome: Outcome) -> Message | None:
    """running → final, once. Returns None when the message had already been finished or deleted."""
    updated = Message.objects.filter(id=message_id, status=Message.Status.RUNNING).update(
        status=outcome.status,
        content=outcome.content,
        finish_reason=outcome.finish_reason,
        prompt_tokens=outcome.prompt_tokens,
        completion_tokens=outcome.completion_tokens,
        usage_exact=outcome.usage_exact,
        ttft_ms=outcome.ttft_ms,
        latency_ms=outcome.latency_ms,
        error_code=outcome.error_code,
        error_message=outcome.error_message,
        finished_at=timezone.now(),
    )
    if not updated:
        return None
    message = Message.objects.select_related("conversation").get(id=message_id)
    Conversation.objects.filter(id=message.conversation_id).update(updated_at=timezone.now())
    return message

