"""Server-sent events for ``stream: true`` and a raw ASGI response that can misbehave.

A hand-written ASGI response (rather than Starlette's StreamingResponse) lets the
simulator notice client disconnects reliably, count them, and deliberately drop a
connection mid-stream without a
traceback."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Protocol

from starlette.types import Receive, Scope, Send

from .chat import Reply, new_id
from .faults import Faults
from .replies import chunk_text

log = logging.getLogger("bigmodel.simulator")

DROP_AFTER = 3  # chunks sent before "drop" / "midstream-error" strike
DONE = b"data: [DONE]\n\n"


class StreamTracker(Protocol):
    def stream_started(self) -> None: ...

    def stream_ended(self, outcome: str) -> None: ...


class DropConnection(Exception):
    """Yielded-from-generator signal: stop without completing the HTTP response."""


def sse(data: dict) -> bytes:
    return f"data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


async def chat_events(
    reply: Reply, model: str, faults: Faults, latency_ms: float
) -> AsyncIterator[bytes]:
    """The upstream chunk sequence, honouring stream faults; sleeps before each chunk."""
    head = {"id": new_id(), "created": int(time.time()), "model": model}
    delay = (faults.latency_ms if faults.latency_ms is not None else latency_ms) / 1000
    await _pause(faults.ttft_ms / 1000)
    if reply.search_results:  # the first chunk carries what the search found
        first = {"role": "assistant", "content": ""}
        yield sse(
            {**head, "choices": [{"index": 0, "delta": first}], "web_search": reply.search_results}
        )
    for piece in chunk_text(reply.reasoning, "reasoning"):  # thinking first, calls or answer
        await _pause(delay)
        delta = {"role": "assistant", "reasoning_content": piece}
        yield sse({**head, "choices": [{"index": 0, "delta": delta}]})
    for delta in tool_call_deltas(reply.tool_calls or []):
        await _pause(delay)
        yield sse({**head, "choices": [{"index": 0, "delta": delta}]})
    for sent, piece in enumerate(chunk_text(reply.text)):
        if sent == DROP_AFTER and faults.drop:
            raise DropConnection()
        if sent == DROP_AFTER and faults.midstream_error:
            yield sse({"error": {"code": "1214", "message": "流式输出过程中发生错误：参数非法。"}})
            return
        await _pause(delay)
        delta = {"role": "assistant", "content": piece}
        yield sse({**head, "choices": [{"index": 0, "delta": delta}]})
    if faults.drop:
        raise DropConnection()
    await _pause(delay)
    final = {
        **head,
        "choices": [
            {
                "index": 0,
                "finish_reason": reply.finish_reason,
                "delta": {"role": "assistant", "content": ""},
            }
        ],
    }
    if not faults.nousage:
        final["usage"] = reply.usage()
    yield sse(final)
    yield DONE


ARGUMENT_PIECE = 8  # characters of a function call's arguments per chunk


def tool_call_deltas(calls: list[dict]) -> list[dict]:
    """As the API streams a function call: its id and name first, then its arguments in pieces."""
    deltas = []
    for call in calls:
        function = call["function"]
        head = {**call, "function": {"name": function["name"], "arguments": ""}}
        deltas.append({"role": "assistant", "tool_calls": [head]})
        arguments = function["arguments"]
        for start in range(0, len(arguments), 8):
            piece = {
                "index": call["index"],
                "function": {"arguments": arguments[start : start + 8]},
            }
            deltas.append({"role": "assistant", "tool_calls": [piece]})
    return deltas


async def _pause(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)


class EventStream:
    """ASGI response streaming ``events``, reporting to ``tracker`` while it runs.

    ``tracker.stream_started()`` is called first; ``tracker.stream_ended(outcome)``
    last, with outcome "complete", "disconnect" or
    "drop"."""

    def __init__(
        self,
        events: AsyncIterator[bytes],
        tracker: StreamTracker,
        media_type: str = "text/event-stream; charset=utf-8",
        status: int = 200,
    ) -> None:
        self.events = events
        self.tracker = tracker
        self.media_type = media_type
        self.status = status

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.tracker.stream_started()
        gone = asyncio.Event()
        watcher = asyncio.create_task(_watch_disconnect(receive, gone))
        outcome = "complete"
        try:
            outcome = await self._pump(send, gone)
        finally:
            watcher.cancel()
            await self._close_events()
            self.tracker.stream_ended(outcome)

    async def _pump(self, send: Send, gone: asyncio.Event) -> str:
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [
                    (b"content-type", self.media_type.encode()),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                ],
            }
        )
        try:
            async for chunk in self.events:
                if gone.is_set():
                    return "disconnect"
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except DropConnection:
            # Returning with the body unfinished makes uvicorn close the socket.
            return "drop"
        except OSError:
            return "disconnect"
        if gone.is_set():
            return "disconnect"
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return "complete"

    async def _close_events(self) -> None:
        aclose = getattr(self.events, "aclose", None)
        if aclose is not None:
            try:
                await aclose()
            except Exception:  # noqa: BLE001 - closing a finished generator is best effort
                pass


async def _watch_disconnect(receive: Receive, gone: asyncio.Event) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.set()
            return


async def once(data: bytes, cut: bool) -> AsyncIterator[bytes]:
    """A one-shot body; with ``cut`` only half of it is sent before the drop."""
    if cut:
        yield data[: len(data) // 2]
        raise DropConnection()
    yield data


class QuietIncompleteResponse(logging.Filter):
    """Hide uvicorn's error line for the connections the simulator drops on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without completing response" not in record.getMessage()


def install_log_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, QuietIncompleteResponse) for f in logger.filters):
        logger.addFilter(QuietIncompleteResponse())
