"""Reads for the playground."""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.shortcuts import get_object_or_404

from accounts.models import Membership, UsageRecord
from bigmodel.images import ImageFile, image_file_part
from playground.models import Attachment, Conversation, ImageGeneration, Message


def get_conversation_for_user(*, user: User, public_id: uuid.UUID) -> Conversation:
    """The user's own conversation, or 404 (never 403: another user's ids do not exist for you)."""
    return get_object_or_404(Conversation, public_id=public_id, user=user)


def get_message_for_user(*, user: User, message_id: int) -> Message:
    return get_object_or_404(
        Message.objects.select_related("conversation"), id=message_id, conversation__user=user
    )


def get_reply_for_user(*, user: User, public_id: uuid.UUID) -> Message:
    return get_object_or_404(
        Message.objects.select_related("conversation"),
        public_id=public_id,
        conversation__user=user,
    )


async def reply_if_any(*, public_id: uuid.UUID) -> Message | None:
    """The reply with this public id whoever owns it, or None (it may not exist yet)."""
    return await Message.objects.select_related("conversation").filter(public_id=public_id).afirst()


def conversations_for_user(*, user: User, limit: int = 50) -> QuerySet[Conversation]:
    """The latest conversations, each with the team its last reply billed (``billed_team_id``,
    ``billed_team_name``, ``billed_personal``)."""
    last_reply = Message.objects.filter(
        conversation=OuterRef("pk"), role=Message.Role.ASSISTANT
    ).order_by("-id")
    conversations = Conversation.objects.filter(user=user).only("public_id", "title", "updated_at")
    # Conversation declares these names (the chat view fills them in for a new one); the plugin
    # refuses an annotation of a declared name even when the types agree.
    return conversations.annotate(  # type: ignore[no-redef]
        billed_team_id=Subquery(last_reply.values("team_id")[:1]),
        billed_team_name=Subquery(last_reply.values("team__name")[:1]),
        billed_personal=Subquery(last_reply.values("team__personal_for_id")[:1]),
    )[:limit]


def _counts_in_history(message: Message) -> bool:
    """Failed replies and empty stopped ones are not part of what the model has said."""
    if message.role != Message.Role.ASSISTANT:
        return True
    return message.status in (Message.Status.DONE, Message.Status.STOPPED) and bool(
        message.content or message.tool_calls
    )


def _kept_in_history(messages: list[Message]) -> list[Message]:
    """A user message whose reply failed is left out with it, so a resend does not repeat itself."""
    kept: list[Message] = []
    for index, message in enumerate(messages):
        if message.role == Message.Role.USER:
            reply = messages[index + 1] if index + 1 < len(messages) else None
            if (
                reply is not None
                and reply.role == Message.Role.ASSISTANT
                and reply.is_final
                and not _counts_in_history(reply)
            ):
                continue
            kept.append(message)
        elif _counts_in_history(message):
            kept.append(message)
    return kept


def history_messages(*, conversation: Conversation, with_images: bool = False) -> list[Message]:
    """The messages that count in its history, read once for a turn; with their attachments
    (``with_images``: for a model that reads them), read with them."""
    queryset = conversation.messages.all()
    if with_images:
        queryset = queryset.prefetch_related("attachments")
    return _kept_in_history(list(queryset))


def _content(message: Message, *, with_images: bool) -> str | list[dict]:
    """Text, or for a message with images and a model that reads them: text, then each image (the
    uploads, then the links)."""
    if not with_images or message.role != Message.Role.USER:
        return message.content
    images = [
        image_file_part(ImageFile.at(image.file.path, name=image.name))
        for image in message.attachments.all()
    ]
    images += [{"type": "image_url", "image_url": {"url": url}} for url in message.image_urls]
    return [{"type": "text", "text": message.content}, *images] if images else message.content


def _answers(messages: list[Message]) -> dict[int, dict[str, Message]]:
    """For each reply that called functions, the tool messages straight after it that answer
    its own calls, by call id (the first answer of each)."""
    answers: dict[int, dict[str, Message]] = {}
    reply: Message | None = None
    for message in messages:
        if message.role != Message.Role.TOOL:
            reply = message if message.tool_calls else None
            continue
        if reply is not None and message.tool_call_id in {c["id"] for c in reply.tool_calls}:
            answers.setdefault(reply.id, {}).setdefault(message.tool_call_id, message)
    return answers


def _as_sent(
    message: Message, *, with_images: bool, answered: dict, with_thinking: bool
) -> dict | None:
    """One message as the API takes it. A reply's function calls go back only with their results
    (``answered``, by call id: the API wants a result for each call), and its thinking only where
    the model must see it again. None: nothing of it is left to send."""
    if message.role == Message.Role.TOOL:
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    sent: dict = {"role": message.role, "content": _content(message, with_images=with_images)}
    if message.role != Message.Role.ASSISTANT:
        return sent
    calls = [call for call in message.tool_calls if call["id"] in answered]
    if calls:
        sent["tool_calls"] = calls
        sent["content"] = message.content or None
    elif not message.content:
        return None
    if with_thinking and message.reasoning_content:
        sent["reasoning_content"] = message.reasoning_content
    return sent


def history_for(
    *, conversation: Conversation, with_images: bool = False, keep_thinking: bool = False
) -> list[dict]:
    """The whole history to send upstream (read here), as :func:`history_sent` gives it."""
    kept = history_messages(conversation=conversation, with_images=with_images)
    return history_sent(conversation, kept, with_images=with_images, keep_thinking=keep_thinking)


def history_sent(
    conversation: Conversation,
    kept: list[Message],
    *,
    with_images: bool = False,
    keep_thinking: bool = False,
) -> list[dict]:
    """The history ``kept`` (see :func:`history_messages`) as it goes upstream, system first;
    images as stored files (sent as bare base64) when ``with_images``, else text only.

    Earlier thinking goes back with the function calls of the turn in progress (a model that
    thinks between calls needs it), and with every reply when ``keep_thinking`` (the model keeps
    its thinking across turns: ``clear_thinking`` false)."""
    answers = _answers(kept)
    results = {answer.id for answered in answers.values() for answer in answered.values()}
    kept = [m for m in kept if m.role != Message.Role.TOOL or m.id in results]
    last_user = max((i for i, m in enumerate(kept) if m.role == Message.Role.USER), default=-1)
    history: list[dict] = (
        [{"role": "system", "content": conversation.system}] if conversation.system.strip() else []
    )
    for index, message in enumerate(kept):
        in_turn = index > last_user and bool(message.tool_calls)
        sent = _as_sent(
            message,
            with_images=with_images,
            answered=answers.get(message.id, {}),
            with_thinking=keep_thinking or in_turn,
        )
        if sent is not None:
            history.append(sent)
    return history


@dataclass(frozen=True)
class HistoryImages:
    uploads: int = 0
    links: int = 0


def images_in(kept: list[Message]) -> HistoryImages:
    """The images a history carries (read with its attachments)."""
    return HistoryImages(
        uploads=sum(len(m.attachments.all()) for m in kept),
        links=sum(len(m.image_urls) for m in kept),
    )


def _audit_filter(user: User, owner_field: str) -> Q:
    """Its owner, the owners and admins of the team it was billed to, and site admins."""
    if user.is_staff:
        return Q()
    managed = Membership.objects.filter(
        user=user, role__in=(Membership.Role.OWNER, Membership.Role.ADMIN)
    )
    return Q(**{owner_field: user}) | Q(team__in=managed.values("team"))


def get_attachment_for_user(*, user: User, public_id: uuid.UUID) -> Attachment:
    """An uploaded image for the user who uploaded it and site staff only (uploads are private,
    whichever team the turn was billed to); 404 for anyone else."""
    who = Q() if user.is_staff else Q(owner=user)
    return get_object_or_404(Attachment.objects.filter(who), public_id=public_id)


def image_generations_for_user(*, user: User, limit: int = 60) -> QuerySet[ImageGeneration]:
    return ImageGeneration.objects.filter(user=user)[:limit]


def get_image_generation_for_user(
    *, user: User, public_id: uuid.UUID, audit: bool = False
) -> ImageGeneration:
    """A generation for its owner; with ``audit`` (looking, not changing) also for those in
    _audit_filter. 404 for anyone else."""
    who = _audit_filter(user, "user") if audit else Q(user=user)
    return get_object_or_404(ImageGeneration.objects.filter(who), public_id=public_id)


def with_tool_results(messages: list[Message]) -> list[Message]:
    """The messages to show: each reply that called functions given their results by call id
    (``tool_results``), which show under its calls, so the tool messages themselves drop out."""
    answers = _answers(messages)
    for message in messages:
        if message.tool_calls:
            answered = answers.get(message.id, {})
            message.tool_results = {call_id: answer.content for call_id, answer in answered.items()}
    return [message for message in messages if message.role != Message.Role.TOOL]


def attach_usage(items: Iterable[Message | ImageGeneration]) -> None:
    """Give each message (or image generation) its usage record as ``usage_record``, in one
    query."""
    items = [item for item in items if getattr(item, "request_id", None)]
    found = UsageRecord.objects.in_bulk(
        [item.request_id for item in items], field_name="request_id"
    )
    for item in items:
        item.usage_record = found.get(item.request_id)


def usage_of(item: Message | ImageGeneration) -> UsageRecord | None:
    if not hasattr(item, "usage_record"):
        attach_usage([item])
    return getattr(item, "usage_record", None)
