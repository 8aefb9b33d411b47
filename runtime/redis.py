"""One Redis connection pool per process, sync and async, from REDIS_URL."""

from functools import cache

import redis
import redis.asyncio
from django.conf import settings

from runtime.loops import per_loop


@cache
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, decode_responses=True, socket_timeout=5)


MAX_ASYNC_CONNECTIONS = 5000


def _async_client() -> redis.asyncio.Redis:
    """An asyncio client bound to the running event loop (a pool cannot cross loops)."""
    # No read timeout: the shared stream reader (runtime.streams) blocks on its subscribed
    # connection on purpose. Every running reply writes its deltas through this pool, so it may
    # need one connection per reply at once (redis-py's default stops at 100).
    return redis.asyncio.Redis.from_url(
        settings.REDIS_URL,
        decode_responses=True,
        socket_timeout=None,
        socket_connect_timeout=5,
        max_connections=MAX_ASYNC_CONNECTIONS,
    )


def redis_url() -> str:
    return settings.REDIS_URL


async_redis = per_loop(_async_client, by=redis_url)
