"""The app's one configured upstream client (the real BigModel API or the simulator)."""

import functools

import httpx
from django.conf import settings

from bigmodel.client import AsyncBigModelClient, BigModelClient
from runtime.loops import per_loop


def _api_key() -> str:
    return settings.ZHIPUAI_API_KEY or settings.SIMULATOR_KEY


type Configuration = tuple[str, str, float, int]


def _configuration() -> Configuration:
    """What a client is made from: the key, the URL, the timeout and the retries."""
    return (
        _api_key(),
        settings.ZHIPUAI_BASE_URL,
        settings.UPSTREAM_TIMEOUT_SECONDS,
        settings.UPSTREAM_MAX_RETRIES,
    )


def _made[C: (BigModelClient, AsyncBigModelClient)](
    kind: type[C], configuration: Configuration
) -> C:
    api_key, base_url, timeout, max_retries = configuration
    return kind(
        api_key, base_url, timeout=httpx.Timeout(timeout, connect=8), max_retries=max_retries
    )


def _async_client() -> AsyncBigModelClient:
    """One pooled client per event loop (httpx pools cannot cross loops) and configuration."""
    return _made(AsyncBigModelClient, _configuration())


async_upstream = per_loop(_async_client, by=_configuration)


@functools.cache
def _sync_client(configuration: Configuration) -> BigModelClient:
    return _made(BigModelClient, configuration)


def upstream() -> BigModelClient:
    """The blocking client, for Celery tasks; one per process and configuration."""
    return _sync_client(_configuration())
