"""The browser's side of a reply: its live stream, and then its cost, as server-sent events.

A connection without Last-Event-ID starts with `reset` and replays the stream from its start, so
a reload or a fresh EventSource shows the whole reply without duplicating it. A connection may
open before its reply exists (the page listens while its POST saves the turn)."""

import asyncio
from collections.abc import AsyncGenerator

from asgiref.sync import sync_to_async
from django.template.loader import render_to_string
from redis.exceptions import RedisError

from accounts.models import UsageRecord
from accounts.services.settlement import settled_as_announced
from playground.models import Message
from playground.reply_stream import Piece, ReplyStream
from playground.services.replies import render_final
from runtime import keys, streams
from runtime.sse import event

KEEP_ALIVE_SECONDS = 15.0
DATABASE_POLL_SECONDS = 1.0
# A stream opened for a reply that was never saved (its POST was refused or never came).
UNBORN_GIVE_UP_SECONDS = 600.0


def _final_html(stream: ReplyStream, message: Message | None = None) -> tuple[bool, str | None]:
    """(whether the reply exists, its final rendering once it is final); ``message`` when the
    caller has just read it."""
    if message is None:
        message = (
            Message.objects.select_related("conversation")
            .filter(public_id=stream.public_id, conversation__user_id=stream.user_id)
            .first()
        )
    if message is None:
        return False, None
    return True, render_final(message) if message.is_final else None


async def reply_events(
    stream: ReplyStream, message: Message | None, *, last_event_id: str | None
) -> AsyncGenerator[str, None]:
    """``message``: the reply as the view found it (None: not saved yet)."""
    try:
        final = None
        if message is not None:
            _, final = await sync_to_async(_final_html)(stream, message)
        del message  # not needed past here, and the stream may stay open for minutes
        if final is not None and not await stream.exists():
            # Long over (the stream expired): the saved message is the whole story.
            yield event("done", final)
            return
        if last_event_id is None:
            yield event("reset", "")
        waited = 0.0
        # If the browser goes away this generator is cancelled; the reply carries on without it.
        async with stream.follow(last_event_id) as reader:
            while True:
                pieces = await reader.pieces(timeout=KEEP_ALIVE_SECONDS)
                if pieces:
                    events, over = _batch_events(pieces)
                else:
                    events, over, waited = await _quiet(stream, waited)
                yield events
                if over:
                    return
    except RedisError:
        # No live deltas without Redis, but the reply still arrives whole once it is saved.
        yield await _final_when_saved(stream)


async def _final_when_saved(stream: ReplyStream) -> str:
    while True:
        exists, final = await sync_to_async(_final_html)(stream)
        if final is not None or not exists:
            return event("done", final or "")
        await asyncio.sleep(DATABASE_POLL_SECONDS)


def _batch_events(pieces: list[Piece]) -> tuple[str, bool]:
    """One write to the browser per batch (under load a batch holds many deltas), and whether it
    ends the reply."""
    events: list[str] = []
    for piece in pieces:
        if piece.is_final:
            events.append(event("done", piece.final_html or "", piece.id))
            return "".join(events), True
        kind = "sources" if piece.sources else "thinking" if piece.thinking else "delta"
        events.append(event(kind, piece.text, piece.id))  # the page writes it as text
    return "".join(events), False


async def _quiet(stream: ReplyStream, waited: float) -> tuple[str, bool, float]:
    """Nothing came for a while: the reply may be long over (its stream expired), never coming
    (its POST was refused or never came) or just slow. What to send, whether that ends the stream,
    and how long a reply that does not exist has been waited for."""
    exists, final = await sync_to_async(_final_html)(stream)
    if final is not None and not await stream.exists():
        return event("done", final), True, waited
    waited = 0.0 if exists else waited + KEEP_ALIVE_SECONDS
    if waited >= UNBORN_GIVE_UP_SECONDS:
        return event("done", ""), True, waited  # nothing will come: the page drops its placeholder
    return ": keep-alive\n\n", False, waited


COST_WAIT_SECONDS = 30.0


def _stats(message: Message) -> tuple[str, UsageRecord | None]:
    """The message's stats footer, and its usage record as it stands."""
    record = UsageRecord.objects.filter(request_id=message.request_id).first()
    return _stats_html(message, record), record


def _stats_html(message: Message, record: UsageRecord | None) -> str:
    message.usage_record = record
    return render_to_string("playground/_stats.html", {"message": message})


def _settled(record: UsageRecord | None) -> bool:
    return record is not None and record.status == UsageRecord.Status.SETTLED


async def cost_events(message: Message) -> AsyncGenerator[str, None]:
    """One `cost` event when the reply's usage is settled, shown as its settlement announced it.
    Waits up to 30 s, then ends; the browser reconnects and waits again (a dead worker is caught
    up by the sweeper)."""
    html, record = await sync_to_async(_stats)(message)
    if not _settled(record):
        heard: list[streams.Entry] = []
        try:
            # A message never billed waits on a key nothing announces on.
            key = keys.call_settled(message.request_id or "")
            async with streams.follow(key) as announcements:
                heard = await announcements.batch(timeout=COST_WAIT_SECONDS)
        except RedisError:
            await asyncio.sleep(DATABASE_POLL_SECONDS * 5)
        if record is not None and heard and settled_as_announced(record, heard[-1][1]):
            html = await sync_to_async(_stats_html)(message, record)
        else:  # nothing heard: settled meanwhile, perhaps, with Redis down
            html, record = await sync_to_async(_stats)(message)
    yield event("cost", html) if _settled(record) else ": not settled yet\n\n"
