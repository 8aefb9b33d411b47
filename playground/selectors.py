"""Reads for the playground."""

from django.http import Http404

from playground.models import Conversation, Message


def get_conversation_for_user(*, user, public_id) -> Conversation:
    """The user's own conversation, or 404 (never 403: another user's ids do not exist for you)."""
    conversation = Conversation.objects.filter(public_id=public_id, user=user).first()
    if conversation is None:
        raise Http404("No such conversation.")
    return conversation


def get_message_for_user(*, user, message_id: int) -> Message:
    message = Message.objects.select_related("conversation").filter(id=message_id, conversation__user=user).first()
    if message is None:
        raise Http404("No such message.")
    return message


def conversations_for_user(*, user, limit: int = 50):
    return Conversation.objects.filter(user=user).only("public_id", "title", "updated_at")[:limit]


def _counts_in_history(message: Message) -> bool:
    """Failed replies and empty stopped ones are not part of what the model has said."""
    if message.role == Message.Role.USER:
        return True
    return message.status in (Message.Status.DONE, Message.Status.STOPPED) and bool(message.content)


def history_for(*, conversation: Conversation, before_id: int | None = None) -> list[dict]:
    """The whole history to send upstream (up to a reply, when given), system first. A user
    message whose reply failed is left out with it, so a resend does not repeat itself."""
    queryset = conversation.messages.all()
    if before_id is not None:
        queryset = queryset.filter(id__lt=before_id)
    messages = list(queryset)
    kept: list[Message] = []
    for index, message in enumerate(messages):
        if message.role == Message.Role.USER:
            reply = messages[index + 1] if index + 1 < len(messages) else None
            if reply is not None and reply.role == Message.Role.ASSISTANT and reply.is_final \
                    and not _counts_in_history(reply):
                continue
            kept.append(message)
        elif _counts_in_history(message):
            kept.append(message)
    history = [{"role": "system", "content": conversation.system}] if conversation.system.strip() else []
    history += [{"role": m.role, "content": m.content} for m in kept]
    return history
