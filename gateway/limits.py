"""A key's requests per minute and calls in flight, counted in Redis so that every web process
counts the same calls, and checked in one step so that racing calls cannot both take the last
place.

For key K, ``apikey:K:minute`` holds the calls made in the last 60 s (by Redis's clock, the one
every process shares) and ``apikey:K:flying`` the calls in flight, each until it ends or, should
its process die, until HOLD_MAX_SECONDS pass (as its hold would)."""

import uuid
from dataclasses import dataclass

from django.conf import settings
from redis.exceptions import RedisError

from accounts.models import ApiKey
from runtime import keys
from runtime.redis import async_redis, redis_client

WINDOW_MS = 60_000

# KEYS: the minute's calls, the calls in flight. ARGV: the key's rpm and concurrency (0: none),
# this call's id, the most ms a call keeps its place. Returns {what is full ('' when the call
# is let in), how many it holds, ms until the minute has room}.
TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rpm, most, call, keep = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
if most > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  local flying = redis.call('ZCARD', KEYS[2])
  if flying >= most then return {'concurrency', flying, 0} end
end
if rpm > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60000)
  local made = redis.call('ZCARD', KEYS[1])
  if made >= rpm then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return {'rpm', made, tonumber(oldest[2]) + 60000 - now}
  end
  redis.call('ZADD', KEYS[1], now, call)
  redis.call('PEXPIRE', KEYS[1], 60000)
end
if most > 0 then
  redis.call('ZADD', KEYS[2], now + keep, call)
  redis.call('PEXPIRE', KEYS[2], keep)
end
return {'', 0, 0}
"""


@dataclass(frozen=True)
class Place:
    """A call's place among its key's calls in flight (nothing to give back without a limit)."""

    key: str
    call: str

    def give_back(self) -> None:
        if self.key:
            try:
                redis_client().zrem(self.key, self.call)
            except RedisError:
                pass  # the place expires by itself

    async def agive_back(self) -> None:
        """``give_back``, from the event loop."""
        if self.key:
            try:
                await async_redis().zrem(self.key, self.call)
            except RedisError:
                pass


NO_PLACE = Place("", "")


class LimitReached(Exception):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def place_take(key: ApiKey) -> Place:
    """This call's place within the key's limits; raises LimitReached (in words, with the
    seconds to wait), or RedisError when the limits cannot be counted."""
    if not key.rpm and not key.concurrency:
        return NO_PLACE
    minute, flying, call = keys.key_minute(key.id), keys.key_flying(key.id), uuid.uuid4().hex
    full, held, wait_ms = redis_client().eval(
        TAKE,
        2,
        minute,
        flying,
        key.rpm or 0,
        key.concurrency or 0,
        call,
        settings.HOLD_MAX_SECONDS * 1000,
    )
    if full == "concurrency":
        raise LimitReached(
            f"this API key has {held} calls in flight, at most {key.concurrency} at once", 1
        )
    if full == "rpm":
        wait = max(1, -(-int(wait_ms) // 1000))
        raise LimitReached(
            f"this API key made {held} requests in the last minute, at most {key.rpm}; "
            f"the next may go in {wait} s",
            wait,
        )
    return Place(flying, call) if key.concurrency else NO_PLACE
