"""The blocking client, on ``httpx.Client``."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, TypeVar

import httpx

from ..errors import BigModelError, UpstreamUnavailable
from ..sse import ChatStreamDecoder, StreamChunk, Usage
from ._base import (
    ASYNC_CHAT_PATH,
    CHAT_PATH,
    DEFAULT_BASE_URL,
    DEFAULT_LIMITS,
    DEFAULT_TIMEOUT,
    EMBEDDINGS_PATH,
    IMAGES_PATH,
    ChatResult,
    ClientCore,
    async_result_path,
    needs_body_read,
    request_args,
    without_none,
)

T = TypeVar("T")


class BigModelClient:
    """Talks to BigModel's v4 API. Thread-safe; use one per process and ``close()`` it.

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
        transport: httpx.BaseTransport | None = None,
        limits: httpx.Limits = DEFAULT_LIMITS,
    ) -> None:
        self._core = ClientCore(
            api_key=api_key, base_url=base_url, max_retries=max_retries, backoff_base=backoff_base
        )
        self._http = httpx.Client(
            base_url=self._core.base_url + "/",
            timeout=timeout,
            transport=transport,
            limits=limits,
        )

    # ------------------------------------------------------------------ endpoints

    def chat(self, body: dict) -> ChatResult:
        """One non-streamed completion (``stream`` is forced off)."""
        reply = self._request_json("POST", CHAT_PATH, json={**body, "stream": False})
        return ChatResult.from_response(reply)

    def chat_stream(self, body: dict) -> ChatStream:
        """A :class:`ChatStream`; use it as a context manager and iterate it inside."""
        return ChatStream(self, {**body, "stream": True})

    def async_chat_submit(self, body: dict) -> dict:
        """Queue a completion; the reply has the task ``id`` and ``task_status``."""
        submit = {key: value for key, value in body.items() if key != "stream"}
        return self._request_json("POST", ASYNC_CHAT_PATH, json=submit)

    def async_chat_result(self, task_id: str) -> dict:
        """Poll a queued completion: ``task_status`` is PROCESSING, SUCCESS or FAIL."""
        return self._request_json("GET", async_result_path(task_id))

    def images_generate(
        self,
        *,
        model: str,
        prompt: str,
        size: str | None = None,
        request_id: str | None = None,
        user_id: str | None = None,
    ) -> dict:
        body = without_none(
            model=model, prompt=prompt, size=size, request_id=request_id, user_id=user_id
        )
        return self._request_json("POST", IMAGES_PATH, json=body)

    def embeddings(
        self, *, model: str, input: str | list[str], dimensions: int | None = None
    ) -> dict:
        body = without_none(model=model, input=input, dimensions=dimensions)
        return self._request_json("POST", EMBEDDINGS_PATH, json=body)

    # ------------------------------------------------------------------ plumbing

    def _request_json(self, method: str, path: str, *, json: dict | None = None) -> dict:
        def attempt() -> dict:
            response = self._send(method, path, json=json, stream=False)
            return self._core.json_result(response)

        return self._with_retries(method, path, attempt)

    def _send(self, method: str, path: str, *, json: Any, stream: bool) -> httpx.Response:
        request = self._http.build_request(
            method, path, **request_args(json, self._core.headers(stream=stream))
        )
        try:
            return self._http.send(request, stream=stream)
        except httpx.TransportError as exc:
            raise self._core.transport_error(exc) from exc

    def _with_retries(self, method: str, path: str, attempt: Callable[[], T]) -> T:
        for number in itertools.count():
            try:
                return attempt()
            except BigModelError as error:
                error.scrubbed(self._core.secrets)
                if not self._core.retry.should_retry(error, attempt=number):
                    raise
                delay = self._core.retry_delay(error, method=method, path=path, attempt=number)
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _open_stream(self, body: dict) -> tuple[httpx.Response, bytes, Iterator[bytes]]:
        """Open the stream and read its first bytes, retrying until then (never after)."""

        def attempt() -> tuple[httpx.Response, bytes, Iterator[bytes]]:
            response = self._send("POST", CHAT_PATH, json=body, stream=True)
            try:
                if needs_body_read(response):
                    response.read()
                    raise self._core.stream_open_error(response)
                body_chunks = response.iter_bytes()
                first = next((chunk for chunk in body_chunks if chunk), b"")
                if not first:
                    raise UpstreamUnavailable("the stream ended before any data")
                return response, first, body_chunks
            except httpx.TransportError as exc:
                response.close()
                raise self._core.transport_error(exc) from exc
            except BaseException:
                response.close()
                raise

        return self._with_retries("POST", CHAT_PATH, attempt)

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> BigModelClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"BigModelClient(base_url={self._core.base_url!r}, api_key={self._core.api_key!r})"


class ChatStream:
    """A streamed chat reply.

    ``with client.chat_stream(body) as stream:`` opens the request (retrying transient failures
    until the first bytes arrive); iterating yields :class:`StreamChunk` objects; leaving the block
    closes the upstream connection, also on ``break`` or an exception. Afterwards ``content``,
    ``reasoning_content``, ``finish_reason`` and ``usage`` describe what
    arrived."""

    def __init__(self, client: BigModelClient, body: dict) -> None:
        self._client = client
        self._body = body
        self._decoder = ChatStreamDecoder(secrets=client._core.secrets)
        self._response: httpx.Response | None = None
        self._chunks: Iterator[StreamChunk] | None = None

    def __enter__(self) -> ChatStream:
        self._response, first, body_chunks = self._client._open_stream(self._body)
        self._chunks = self._decode(first, body_chunks)
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
        if self._chunks is None:
            raise RuntimeError("open the stream first: `with client.chat_stream(body) as stream:`")
        return next(self._chunks)

    def close(self) -> None:
        if self._chunks is not None:
            self._chunks.close()
        if self._response is not None:
            self._response.close()

    def _decode(self, first: bytes, body_chunks: Iterator[bytes]) -> Iterator[StreamChunk]:
        core = self._client._core
        try:
            for raw in itertools.chain([first], body_chunks):
                yield from self._decoder.feed(raw)
                if self._decoder.done:
                    return
            yield from self._decoder.finish()
        except httpx.TransportError as exc:
            raise core.transport_error(exc, partial_text=self.content) from exc
        except BigModelError as error:
            raise error.scrubbed(
                core.secrets
            ) from None  # the unscrubbed original stays out of tracebacks

    # What arrived so far (complete once iteration has finished).
    @property
    def id(self) -> str | None:
        return self._decoder.reader.id

    @property
    def request_id(self) -> str | None:
        return self._body.get("request_id")

    @property
    def content(self) -> str:
        return self._decoder.reader.text

    @property
    def reasoning_content(self) -> str:
        return self._decoder.reader.reasoning_text

    @property
    def finish_reason(self) -> str | None:
        return self._decoder.reader.finish_reason

    @property
    def usage(self) -> Usage | None:
        return self._decoder.reader.usage
