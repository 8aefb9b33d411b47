"""Open live streams per user (replies and costs), counted in Redis so every web process sees the
same count. Each open stream holds a slot that expires unless renewed, so a process that dies
without closing its streams frees their slots within a couple of minutes."""

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass

from django.conf import settings
from redis.exceptions import RedisError

from runtime import keys
from runtime.redis import async_redis

log = logging.getLogger(__name__)
SLOT_SECONDS = 120
RENEW_AFTER_SECONDS = 30

# Drop expired slots, then take one if fewer than the limit are held: in one step, so two
# connections opening at once cannot both take the last one.
TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return
1"""


@dataclass
class Slot:
    key: str
    member: str
    renewed: float


async def stream_slot(user_id: int) -> Slot | None:
    """A slot for one more open stream, or None when the user has MAX_STREAMS_PER_USER open. With
    Redis down there is no live stream to limit (readers fall back to the database): let it open."""
    slot, now = Slot(keys.replies_running(user_id), uuid.uuid4().hex, time.time()), time.time()
    try:
        taken = await async_redis().eval(
            TAKE,
            1,
            slot.key,
            now,
            settings.MAX_STREAMS_PER_USER,
            now + SLOT_SECONDS,
            slot.member,
            SLOT_SECONDS,
        )
    except RedisError as error:
        log.warning("stream limit not checked: %s", type(error).__name__)
        return slot
    return slot if taken else None


async def held(events: AsyncIterator[str], slot: Slot) -> AsyncIterator[bytes]:
    """Relay ``events`` while holding ``slot``; it is given back however the stream ends. As
    bytes: Django encodes each str it streams after reading the response's charset again."""
    try:
        async for event in events:
            if time.time() - slot.renewed > RENEW_AFTER_SECONDS:
                slot.renewed = time.time()
                await _quietly(
                    async_redis().zadd(slot.key, {slot.member: slot.renewed + SLOT_SECONDS})
                )
            yield event.encode()
    finally:
        await _quietly(async_redis().zrem(slot.key, slot.member))


async def _quietly(command: Awaitable[object]) -> None:
    try:
        # Shielded: a command cancelled half-way (the browser leaving) costs its connection.
        await asyncio.shield(command)
    except RedisError:
        pass  # the slot expires by itself
