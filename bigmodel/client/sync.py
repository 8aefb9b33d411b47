"""Blocking calls for code without an event loop (Celery tasks, commands, scripts).

:class:`BigModelClient` runs :class:`~bigmodel.client.AsyncBigModelClient` on a private event
loop in a thread of its own, so there is one implementation of the endpoints, retries, errors
and streams. Callers in any thread may share one client; their calls run concurrently there."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from types import TracebackType
from typing import Any, TypeVar

from ..sse import StreamChunk
from ._base import ChatResult, StreamProgress
from .aio import AsyncBigModelClient, AsyncChatStream

T = TypeVar("T")


class BigModelClient:
    """The blocking face of :class:`AsyncBigModelClient`; takes the same arguments (the
    ``transport``, if given, must be an async one, such as ``httpx.MockTransport``).
    ``close()`` it, or use it as a context manager."""

    def __init__(self, api_key: str, *args: Any, **options: Any) -> None:
        self._client = AsyncBigModelClient(api_key, *args, **options)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="bigmodel-client", daemon=True
        )
        self._thread.start()

    def run(self, call: Coroutine[Any, Any, T]) -> T:
        """Wait for one of the async client's coroutines, run on the client's loop."""
        if not self._thread.is_alive():  # closed, or inherited across a fork without its thread
            call.close()
            raise RuntimeError("this BigModelClient is closed; make one per process")
        future: Future[T] = asyncio.run_coroutine_threadsafe(call, self._loop)
        return future.result()

    def chat(self, body: dict) -> ChatResult:
        return self.run(self._client.chat(body))

    def chat_stream(self, body: dict) -> ChatStream:
        """A :class:`ChatStream`; use it as a context manager and iterate it inside."""
        return ChatStream(self, self._client.chat_stream(body))

    def async_chat_submit(self, body: dict) -> dict:
        return self.run(self._client.async_chat_submit(body))

    def async_chat_result(self, task_id: str) -> dict:
        return self.run(self._client.async_chat_result(task_id))

    def images_generate(self, **fields: Any) -> dict:
        return self.run(self._client.images_generate(**fields))

    def images_result(self, task_id: str) -> dict:
        return self.run(self._client.images_result(task_id))

    def embeddings(self, **fields: Any) -> dict:
        return self.run(self._client.embeddings(**fields))

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self.run(self._client.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> BigModelClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return repr(self._client).replace("AsyncBigModelClient", "BigModelClient", 1)


class ChatStream(StreamProgress):
    """A streamed chat reply: ``with client.chat_stream(body) as stream: for chunk in stream``.

    Opening retries transient failures until the first bytes arrive; leaving the block closes
    the upstream connection, also on ``break`` or an exception."""

    def __init__(self, client: BigModelClient, stream: AsyncChatStream) -> None:
        self._client = client
        self._stream = stream
        self._body, self._decoder = stream._body, stream._decoder
        self._open = False

    def __enter__(self) -> ChatStream:
        self._client.run(self._stream.__aenter__())
        self._open = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[StreamChunk]:
        return self

    def __next__(self) -> StreamChunk:
        if not self._open:
            raise RuntimeError("open the stream first: `with client.chat_stream(body) as stream:`")
        chunk = self._client.run(_next_or_none(self._stream))
        if chunk is None:
            raise StopIteration
        return chunk

    def close(self) -> None:
        self._client.run(self._stream.aclose())


async def _next_or_none(stream: AsyncChatStream) -> StreamChunk | None:
    # A future cannot carry StopAsyncIteration across threads cleanly: the end is None instead.
    return await anext(stream, None)
