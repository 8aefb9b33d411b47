"""One Redis connection pool per process, sync and async, from REDIS_URL."""

import asyncio
import weakref
from functools import cache

import redis
import redis.asyncio
from django.conf import settings


@cache
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, decode_responses=True, socket_timeout=5)


MAX_ASYNC_CONNECTIONS = 5000
_async_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def async_redis() -> redis.asyncio.Redis:
    """An asyncio client bound to the running event loop (a pool cannot cross loops)."""
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        # No read timeout: the shared stream reader (config.streams) blocks on its subscribed
        # connection on purpose. Every running reply writes its deltas through this pool, so it
        # may need one connection per reply at once (redis-py's default stops at 100).
        client = redis.asyncio.Redis.from_url(
            settings.REDIS_URL,
            decode_responses=True,
            socket_timeout=None,
            socket_connect_timeout=5,
            max_connections=MAX_ASYNC_CONNECTIONS,
        )
        _async_clients[loop] = client
    return client
