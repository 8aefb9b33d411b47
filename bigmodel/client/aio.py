"""The client, on ``httpx.AsyncClient``: every endpoint, the retries, the error mapping and the
stream state. The blocking client in ``sync.py`` runs this same code."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any, TypeVar

import httpx

from ..errors import BigModelError, UpstreamUnavailable
from ..sse import ChatStreamDecoder, StreamChunk
from ._base import (
    ASYNC_CHAT_PATH,
    ASYNC_IMAGES_PATH,
    CHAT_PATH,
    DEFAULT_BASE_URL,
    DEFAULT_LIMITS,
    DEFAULT_TIMEOUT,
    EMBEDDINGS_PATH,
    IMAGES_PATH,
    ChatResult,
    ClientCore,
    StreamProgress,
    async_result_path,
    needs_body_read,
    request_args,
    without_none,
)

logger = logging.getLogger("bigmodel")
T = TypeVar("T")


class AsyncBigModelClient:
    """Talks to BigModel's v4 API; one per event loop, ``await aclose()`` it.

    Retries rate limits, server errors and network failures (never billing, parameter,
    moderation or auth errors) with exponential backoff. A bad key fails here, at
    construction."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        backoff_base: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
        limits: httpx.Limits = DEFAULT_LIMITS,
    ) -> None:
        self._core = ClientCore(
            api_key=api_key, base_url=base_url, max_retries=max_retries, backoff_base=backoff_base
        )
        self._http = httpx.AsyncClient(
            base_url=self._core.base_url + "/",
            timeout=timeout,
            transport=transport,
            limits=limits,
        )

    # ------------------------------------------------------------------ endpoints

    async def chat(self, body: dict) -> ChatResult:
        """One non-streamed completion (``stream`` is forced off)."""
        reply = await self._request_json("POST", CHAT_PATH, json={**body, "stream": False})
        return ChatResult.from_response(reply)

    def chat_stream(self, body: dict) -> AsyncChatStream:
        """An :class:`AsyncChatStream`; use it with ``async with`` and ``async for`` inside."""
        return AsyncChatStream(self, {**body, "stream": True})

    async def async_chat_submit(self, body: dict) -> dict:
        """Queue a completion; the reply has the task ``id`` and ``task_status``."""
        submit = {key: value for key, value in body.items() if key != "stream"}
        return await self._request_json("POST", ASYNC_CHAT_PATH, json=submit)

    async def async_chat_result(self, task_id: str) -> dict:
        """Poll a queued completion: ``task_status`` is PROCESSING, SUCCESS or FAIL."""
        return await self._request_json("GET", async_result_path(task_id))

    async def images_generate(
        self,
        *,
        model: str,
        prompt: str,
        size: str | None = None,
        quality: str | None = None,
        request_id: str | None = None,
        user_id: str | None = None,
        queued: bool = False,
    ) -> dict:
        """An image, its link in ``data``; ``queued`` (GLM-Image's async path): a task ``id``
        and ``task_status`` instead, to poll with :meth:`images_result`."""
        body = without_none(
            model=model,
            prompt=prompt,
            size=size,
            quality=quality,
            request_id=request_id,
            user_id=user_id,
        )
        path = ASYNC_IMAGES_PATH if queued else IMAGES_PATH
        return await self._request_json("POST", path, json=body)

    async def images_result(self, task_id: str) -> dict:
        """Poll a queued image: ``task_status`` PROCESSING, SUCCESS (with ``image_result``, a
        list of ``{"url"}``) or FAIL."""
        return await self._request_json("GET", async_result_path(task_id))

    async def embeddings(
        self, *, model: str, input: str | list[str], dimensions: int | None = None
    ) -> dict:
        body = without_none(model=model, input=input, dimensions=dimensions)
        return await self._request_json("POST", EMBEDDINGS_PATH, json=body)

    # ------------------------------------------------------------------ plumbing

    async def _request_json(self, method: str, path: str, *, json: dict | None = None) -> dict:
        async def attempt() -> dict:
            response = await self._send(method, path, json=json, stream=False)
            return self._core.json_result(response)

        return await self._with_retries(method, path, attempt)

    async def _send(self, method: str, path: str, *, json: Any, stream: bool) -> httpx.Response:
        request = self._http.build_request(
            method, path, **request_args(json, self._core.headers(stream=stream))
        )
        try:
            return await self._http.send(request, stream=stream)
        except httpx.TransportError as exc:
            raise self._core.transport_error(exc) from exc

    async def _with_retries(self, method: str, path: str, attempt: Callable[[], Awaitable[T]]) -> T:
        for number in itertools.count():
            try:
                return await attempt()
            except BigModelError as error:
                error.scrubbed(self._core.secrets)
                if not self._core.retry.should_retry(error, attempt=number):
                    raise
                delay = self._core.retry_delay(error, method=method, path=path, attempt=number)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _open_stream(self, body: dict) -> tuple[httpx.Response, bytes, AsyncIterator[bytes]]:
        """Open the stream and read its first bytes, retrying until then (never after)."""

        async def attempt() -> tuple[httpx.Response, bytes, AsyncIterator[bytes]]:
            response = await self._send("POST", CHAT_PATH, json=body, stream=True)
            try:
                if needs_body_read(response):
                    await response.aread()
                    raise self._core.stream_open_error(response)
                body_chunks = response.aiter_bytes()
                first = await _first_nonempty(body_chunks)
                if not first:
                    raise UpstreamUnavailable("the stream ended before any data")
                return response, first, body_chunks
            except httpx.TransportError as exc:
                await response.aclose()
                raise self._core.transport_error(exc) from exc
            except BaseException:
                await response.aclose()
                raise

        return await self._with_retries("POST", CHAT_PATH, attempt)

    # ------------------------------------------------------------------ lifecycle

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncBigModelClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"AsyncBigModelClient(base_url={self._core.base_url!r}, api_key={self._core.api_key!r})"
        )


async def _in_turn(n: int, chunk: StreamChunk) -> StreamChunk:
    """The ``n``th chunk of one read, after the loop's other tasks have had a turn: a reply that
    arrives in one read would otherwise be parsed whole before its reader's first write could go
    out. A chunk read on its own waits for nothing."""
    if n:
        await asyncio.sleep(0)
    return chunk


async def _first_nonempty(chunks: AsyncIterator[bytes]) -> bytes:
    async for chunk in chunks:
        if chunk:
            return chunk
    return b""


class AsyncChatStream(StreamProgress):
    """A streamed chat reply, for asyncio.

    ``async with client.chat_stream(body) as stream:`` opens the request (retrying transient
    failures until the first bytes arrive); ``async for chunk in stream`` yields
    :class:`StreamChunk` objects. Leaving the block closes the upstream connection, whether by
    finishing, ``break``, an exception or cancellation of the task, so cancelling the consuming
    task is how to stop a reply upstream. Afterwards ``content``, ``reasoning_content``,
    ``finish_reason`` and ``usage`` describe what
    arrived."""

    def __init__(self, client: AsyncBigModelClient, body: dict) -> None:
        self._client = client
        self._body = body
        self._decoder = ChatStreamDecoder(secrets=client._core.secrets)
        self._response: httpx.Response | None = None
        self._body_chunks: AsyncIterator[bytes] | None = None
        self._chunks: AsyncIterator[StreamChunk] | None = None

    async def __aenter__(self) -> AsyncChatStream:
        self._response, first, self._body_chunks = await self._client._open_stream(self._body)
        self._chunks = self._decode(first, self._body_chunks)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[StreamChunk]:
        # The chunks themselves, not a step of this object's around each: a reply has hundreds.
        return self._opened()

    async def __anext__(self) -> StreamChunk:
        return await anext(self._opened())

    def _opened(self) -> AsyncIterator[StreamChunk]:
        if self._chunks is None:
            raise RuntimeError(
                "open the stream first: `async with client.chat_stream(body) as stream:`"
            )
        return self._chunks

    async def aclose(self) -> None:
        """Stop reading and close the upstream connection. Safe to call more than once."""
        for generator in (self._chunks, self._body_chunks):
            await _close_quietly(generator)
        if self._response is not None:
            await self._response.aclose()

    async def _decode(
        self, first: bytes, body_chunks: AsyncIterator[bytes]
    ) -> AsyncIterator[StreamChunk]:
        core = self._client._core
        try:
            for n, chunk in enumerate(self._decoder.feed(first)):
                yield await _in_turn(n, chunk)
            if not self._decoder.done:
                async for raw in body_chunks:
                    for n, chunk in enumerate(self._decoder.feed(raw)):
                        yield await _in_turn(n, chunk)
                    if self._decoder.done:
                        await _read_to_end(body_chunks)
                        break
            for chunk in self._decoder.finish():
                yield chunk
        except httpx.TransportError as exc:
            raise core.transport_error(exc, partial_text=self.content) from exc
        except BigModelError as error:
            raise error.scrubbed(
                core.secrets
            ) from None  # the unscrubbed original stays out of tracebacks


# After [DONE] only the body's last chunk is left: reading it lets the connection go back to the
# pool (a response closed before its end closes its connection, and the next call connects anew).
BODY_END_SECONDS = 1.0


async def _read_to_end(body_chunks: AsyncIterator[bytes]) -> None:
    try:
        async with asyncio.timeout(BODY_END_SECONDS):
            async for _ in body_chunks:
                pass
    except (TimeoutError, httpx.TransportError):
        pass  # the connection is closed instead


async def _close_quietly(generator: AsyncIterator[Any] | None) -> None:
    # A generator still running in another task cannot be closed from here; closing the
    # response below is what releases the connection in that case.
    aclose = getattr(generator, "aclose", None)
    if aclose is None:
        return
    try:
        await aclose()
    except RuntimeError:
        logger.debug("stream generator busy in another task; closing the response only")
