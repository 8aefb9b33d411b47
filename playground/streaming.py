"""The SSE side of a reply: relay the message's Redis stream to one browser connection.

A connection without Last-Event-ID starts with `reset` and replays the stream from its
start, so a reload or a fresh EventSource shows the whole reply without duplicating it.
"""

import asyncio
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.template.loader import render_to_string
from django.utils.html import escape
from redis.exceptions import RedisError

from accounts.models import UsageRecord
from accounts.services.settlement import settled_key
from config.redis import async_redis
from playground.generation import render_final, stream_key
from playground.models import Message

BLOCK_MS = 15000
DATABASE_POLL_SECONDS = 1.0


def sse(event: str, data: str, event_id: str | None = None) -> str:
    lines = [f"id: {event_id}"] if event_id else []
    lines.append(f"event: {event}")
    lines += [f"data: {line}" for line in data.split("\n")]
    return "\n".join(lines) + "\n\n"


async def _final_from_database(message_id: int) -> str | None:
    message = await Message.objects.select_related("conversation").aget(id=message_id)
    if message.is_final:
        return await sync_to_async(render_final)(message)
    return None


async def message_events(message: Message, *, last_event_id: str | None) -> AsyncIterator[str]:
    try:
        async for event in _relay_from_redis(message, last_event_id=last_event_id):
            yield event
    except RedisError:
        # No live deltas without Redis, but the reply still arrives whole once it is saved.
        yield await _final_when_saved(message.id)


async def _final_when_saved(message_id: int) -> str:
    while (final := await _final_from_database(message_id)) is None:
        await asyncio.sleep(DATABASE_POLL_SECONDS)
    return sse("done", final)


async def _relay_from_redis(message: Message, *, last_event_id: str | None) -> AsyncIterator[str]:
    redis = async_redis()
    key = stream_key(message.id)
    cursor = last_event_id or "0-0"
    if message.is_final and not await redis.exists(key):
        # Long over (the stream expired): the saved message is the whole story.
        yield sse("done", await sync_to_async(render_final)(message))
        return
    if last_event_id is None:
        yield sse("reset", "")
    # If the browser goes away this generator is cancelled; the reply carries on without it.
    while True:
        batch = await redis.xread({key: cursor}, block=BLOCK_MS, count=256)
        if not batch:
            final = await _final_from_database(message.id)
            if final is not None and not await redis.exists(key):
                yield sse("done", final)
                return
            yield ": keep-alive\n\n"
            continue
        # One write to the browser per batch: under load a batch holds many deltas.
        events = []
        for entry_id, fields in batch[0][1]:
            cursor = entry_id
            if fields["t"] != "delta":
                yield "".join(events) + sse("done", fields["html"], entry_id)
                return
            events.append(sse("delta", escape(fields["d"]), entry_id))
        yield "".join(events)


COST_WAIT_MS = 30000


def _stats(message: Message) -> tuple[str, bool]:
    """The message's stats footer, and whether its cost is final."""
    record = UsageRecord.objects.filter(request_id=message.request_id).first()
    message.usage_record = record
    html = render_to_string("playground/_stats.html", {"message": message})
    return html, record is not None and record.status == UsageRecord.Status.SETTLED


async def cost_events(message: Message) -> AsyncIterator[str]:
    """One `cost` event when the reply's usage is settled. Waits up to 30 s, then ends; the browser
    reconnects and waits again (a dead worker is caught up by the sweeper)."""
    html, settled = await sync_to_async(_stats)(message)
    if not settled:
        try:
            await async_redis().xread({settled_key(message.request_id): "0-0"}, block=COST_WAIT_MS)
        except RedisError:
            await asyncio.sleep(DATABASE_POLL_SECONDS * 5)
        html, settled = await sync_to_async(_stats)(message)
    yield sse("cost", html) if settled else ": not settled yet\n\n"
