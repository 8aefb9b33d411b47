"""Replies whose runner is gone (a restart, a crash) or must stop before their conversation is
deleted: finished here, billed as estimated from what reached Redis."""

import asyncio
import time
from datetime import datetime, timedelta

from asgiref.sync import sync_to_async
from django.utils import timezone

from bigmodel.usage import Arrived
from playground.models import Message
from playground.services.replies import (
    Outcome,
    publish_final,
    reply_finish,
    reply_stop,
    reply_stream_of,
)

STALE_AFTER = timedelta(seconds=60)
INTERRUPTED = (
    "The reply was interrupted (the app restarted while writing it); what had arrived is kept."
)


def replies_sweep(*, now: datetime | None = None) -> list[int]:
    """Finish replies whose runner died (a restart, a crash): running with no heartbeat.
    Keeps what reached Redis, with estimated usage. Returns their ids."""
    now = now or timezone.now()
    stale = Message.objects.filter(status=Message.Status.RUNNING, started_at__lt=now - STALE_AFTER)
    return [
        message.id
        for message in stale.select_related("conversation__user")
        if _finish_if_orphaned(message)
    ]


def _finish_if_orphaned(message: Message) -> bool:
    """Finish a running reply whose runner is gone (no heartbeat), billed as estimated from what
    reached Redis. False when its runner is alive, just slow, or it was finished meanwhile."""
    stream = reply_stream_of(message)
    if stream.runner_alive():
        return False
    text = stream.delivered_text()
    outcome = Outcome(
        status=Message.Status.FAILED,
        content=text,
        error_code="interrupted",
        error_message=INTERRUPTED,
        # Something written means the upstream worked on it (its answer was never seen whole, so
        # whether it searched is not known); nothing: nothing to bill.
        arrived=Arrived(text=text) if text else None,
    )
    assert message.request_id is not None  # a reply is saved with its request id
    final = reply_finish(message_id=message.id, request_id=message.request_id, outcome=outcome)
    if final is None:
        return False
    publish_final(stream, final)
    return True


DELETE_WAIT_SECONDS = 5.0


async def replies_stop_and_settle(
    conversation_id: int, *, wait: float = DELETE_WAIT_SECONDS
) -> None:
    """Before a conversation is deleted: stop its running replies and wait until each is saved and
    billed (estimated). A reply whose runner is gone is finished here; one whose runner is alive but
    slow to hear the Stop bills itself from what it holds, whatever became of its rows."""
    running = Message.objects.filter(
        conversation_id=conversation_id, status=Message.Status.RUNNING
    ).select_related("conversation__user")
    replies = [message async for message in running]
    for message in replies:
        await reply_stop(reply_stream_of(message), message.id)
    ids = [message.id for message in replies]
    deadline = time.monotonic() + wait
    while ids and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        ids = [
            message_id
            async for message_id in running.filter(id__in=ids).values_list("id", flat=True)
        ]
    for message in [m async for m in running.filter(id__in=ids)]:
        await sync_to_async(_finish_if_orphaned)(message)
