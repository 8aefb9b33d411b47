"""The app's one configured upstream client (the real BigModel API or the simulator)."""

import functools

import httpx
from django.conf import settings

from bigmodel.client import AsyncBigModelClient, BigModelClient
from runtime.loops import per_loop


def _api_key() -> str:
    return settings.ZHIPUAI_API_KEY or settings.SIMULATOR_KEY


def _async_client() -> AsyncBigModelClient:
    """One pooled client per event loop (httpx pools cannot cross loops) and configuration."""
    return AsyncBigModelClient(
        _api_key(),
        settings.ZHIPUAI_BASE_URL,
        timeout=httpx.Timeout(settings.UPSTREAM_TIMEOUT_SECONDS, connect=8),
        max_retries=settings.UPSTREAM_MAX_RETRIES,
    )


def _configuration() -> tuple[str, str, float, int]:
    return (
        _api_key(),
        settings.ZHIPUAI_BASE_URL,
        settings.UPSTREAM_TIMEOUT_SECONDS,
        settings.UPSTREAM_MAX_RETRIES,
    )


async_upstream = per_loop(_async_client, by=_configuration)


@functools.cache
def _sync_client(api_key: str, base_url: str, timeout: float, max_retries: int) -> BigModelClient:
    return BigModelClient(
        api_key, base_url, timeout=httpx.Timeout(timeout, connect=8), max_retries=max_retries
    )


def upstream() -> BigModelClient:
    """The blocking client, for Celery tasks; one per process and configuration."""
    return _sync_client(*_configuration())
