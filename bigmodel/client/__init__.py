"""The HTTP client for BigModel's v4 API: :class:`AsyncBigModelClient`, and
:class:`BigModelClient`, which runs it for code that blocks.

Both have the same methods (``chat``, ``chat_stream``, ``async_chat_submit``,
``async_chat_result``, ``images_generate``, ``embeddings``); the async ones are coroutines.
Streams are context managers: ``with client.chat_stream(body) as stream: for chunk in stream``,
or ``async with`` / ``async for``; leaving the block closes the upstream connection.
"""

from ._base import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, ChatResult, RetryPolicy
from .aio import AsyncBigModelClient, AsyncChatStream
from .sync import BigModelClient, ChatStream

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "AsyncBigModelClient",
    "AsyncChatStream",
    "BigModelClient",
    "ChatResult",
    "ChatStream",
    "RetryPolicy",
]
