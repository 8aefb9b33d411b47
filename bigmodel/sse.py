"""Server-sent events: a line parser, and the chat-completion stream read on top of it.

The parser follows the rules the official SDK follows: ``:`` lines are comments, ``event:``,
``id:``, ``retry:`` and (possibly several) ``data:`` fields build an event, a blank line dispatches
it, and ``data: [DONE]`` ends the stream. Both layers are fed: the client pushes each body chunk
in as it arrives (:class:`ChatStreamDecoder`)."""

from __future__ import annotations

import codecs
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import BigModelError, UpstreamFailure, UpstreamUnavailable, error_from_payload

DONE = "[DONE]"
_LINE_END = re.compile(r"\r\n|\r|\n")
# Finish reasons that mean the reply is incomplete or was cut by the platform.
ABNORMAL_FINISH_REASONS = frozenset({"length", "sensitive", "network_error"})


# --------------------------------------------------------------------------- raw SSE


@dataclass(frozen=True)
class ServerSentEvent:
    data: str = ""
    event: str | None = None
    id: str | None = None
    retry: int | None = None

    @property
    def is_done(self) -> bool:
        return self.data.strip() == DONE

    def json(self) -> Any:
        return json.loads(self.data)


class SSEDecoder:
    """Feed it lines one at a time; it returns an event whenever a blank line completes one."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event: str | None = None
        self._retry: int | None = None
        self._last_id: str | None = None  # persists across events, as the spec says

    def feed(self, line: str) -> ServerSentEvent | None:
        line = line.rstrip("\r\n")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._last_id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None

    def flush(self) -> ServerSentEvent | None:
        """The event left pending when the stream ended without a final blank line."""
        return self._dispatch()

    def _dispatch(self) -> ServerSentEvent | None:
        if not self._data and self._event is None and self._retry is None:
            return None
        event = ServerSentEvent(
            data="\n".join(self._data), event=self._event, id=self._last_id, retry=self._retry
        )
        self._data, self._event, self._retry = [], None, None
        return event


class LineSplitter:
    """Turns arbitrary byte or text chunks into lines, whatever the chunk boundaries.

    Handles ``\\n``, ``\\r\\n`` and ``\\r`` endings, a ``\\r\\n`` split across two chunks, and
    multi-byte UTF-8 characters split across
    chunks."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""

    def feed(self, chunk: bytes | str) -> list[str]:
        text = self._decoder.decode(chunk) if isinstance(chunk, bytes) else chunk
        self._buffer += text
        return self._take_complete_lines()

    def flush(self) -> list[str]:
        self._buffer += self._decoder.decode(b"", final=True)
        lines = self._take_complete_lines(final=True)
        if self._buffer:
            lines.append(self._buffer)
            self._buffer = ""
        return lines

    def _take_complete_lines(self, *, final: bool = False) -> list[str]:
        buffer, held = self._buffer, ""
        if not final and buffer.endswith("\r"):
            # It may be the first half of "\r\n": decide when the next chunk arrives.
            buffer, held = buffer[:-1], "\r"
        # Only CR/LF end lines; str.splitlines would also split on U+2028 inside JSON strings.
        *lines, rest = _LINE_END.split(buffer)
        self._buffer = rest + held
        return lines


# --------------------------------------------------------------------------- chat streams


@dataclass(frozen=True)
class Usage:
    """A call's tokens. Cache hits are counted inside ``prompt_tokens``, thinking inside
    ``completion_tokens`` (``prompt_tokens_details.cached_tokens``,
    ``completion_tokens_details.reasoning_tokens``)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    @classmethod
    def from_dict(cls, data: Any) -> Usage | None:
        if not isinstance(data, Mapping):
            return None
        try:
            prompt = int(data.get("prompt_tokens") or 0)
            completion = int(data.get("completion_tokens") or 0)
            total = int(data.get("total_tokens") or prompt + completion)
            cached = _detail(data, "prompt_tokens_details", "cached_tokens")
            reasoning = _detail(data, "completion_tokens_details", "reasoning_tokens")
        except (TypeError, ValueError):
            return None
        return cls(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=total,
            # A part never exceeds its whole, whatever the upstream says.
            cached_tokens=min(cached, prompt),
            reasoning_tokens=min(reasoning, completion),
        )


def _detail(usage: Mapping, details: str, name: str) -> int:
    found = usage.get(details)
    return max(int(found.get(name) or 0), 0) if isinstance(found, Mapping) else 0


@dataclass(frozen=True)
class StreamChunk:
    """One decoded chat-stream chunk. ``delta`` is reply text; reasoning text is kept apart."""

    id: str | None = None
    delta: str = ""
    reasoning_delta: str = ""
    search_results: tuple[dict, ...] = ()  # the web_search tool's pages (the first chunk's)
    tool_call_deltas: tuple[dict, ...] = ()  # pieces of function calls, by index
    finish_reason: str | None = None
    usage: Usage | None = None
    model: str | None = None
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_abnormal(self) -> bool:
        return is_abnormal_finish(self.finish_reason)


def is_abnormal_finish(finish_reason: str | None) -> bool:
    """True for finish reasons that mean the reply was cut short (length, moderation, failure)."""
    return finish_reason in ABNORMAL_FINISH_REASONS


class ChatStreamReader:
    """Interprets SSE events as chat chunks and remembers what arrived so far.

    Call :meth:`read` for each event and :meth:`finish` when the events run out; ``finish``
    raises :class:`UpstreamUnavailable` if the stream ended before a finish reason or
    ``[DONE]``."""

    def __init__(self, *, secrets: Iterable[str] = ()) -> None:
        self.id: str | None = None
        self.model: str | None = None
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.done = False
        self._secrets = tuple(secrets)
        # Text, not lists of the pieces: a reply comes in hundreds of pieces of a few characters,
        # and each as a string of its own costs ~50 bytes, many times what it holds.
        self._text = io.StringIO()
        self._reasoning = io.StringIO()
        self._calls: dict[int, dict] = {}

    @property
    def text(self) -> str:
        return self._text.getvalue()

    @property
    def reasoning_text(self) -> str:
        return self._reasoning.getvalue()

    @property
    def tool_calls(self) -> list[dict]:
        """The function calls so far, whole: ``{"id", "type", "function": {"name",
        "arguments"}}`` (arguments arrive in pieces; they are joined here)."""
        return [self._calls[index] for index in sorted(self._calls)]

    def read(self, event: ServerSentEvent) -> StreamChunk | None:
        """The chunk in ``event``; None for ``[DONE]`` and for events with nothing in them."""
        if event.is_done:
            self.done = True
            return None
        if not event.data.strip() or event.event not in (None, "", "message", "error"):
            return None
        payload = self._decode(event)
        if payload.get("error") or event.event == "error":
            raise self._with_partial(error_from_payload(payload, secrets=self._secrets))
        return self._remember(_chunk_from_payload(payload))

    def finish(self) -> None:
        if not self.done and self.finish_reason is None:
            raise UpstreamUnavailable("stream ended early", partial_text=self.text)

    def _decode(self, event: ServerSentEvent) -> dict:
        try:
            payload = event.json()
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            return payload
        if event.event == "error":
            return {"error": {"message": event.data}}
        raise self._with_partial(UpstreamFailure("malformed stream chunk", retryable=False))

    def _remember(self, chunk: StreamChunk) -> StreamChunk:
        self.id = chunk.id or self.id
        self.model = chunk.model or self.model
        self.finish_reason = chunk.finish_reason or self.finish_reason
        self.usage = chunk.usage or self.usage
        self._text.write(chunk.delta)
        self._reasoning.write(chunk.reasoning_delta)
        for piece in chunk.tool_call_deltas:
            self._add_call_piece(piece)
        return chunk

    def _add_call_piece(self, piece: dict) -> None:
        index = piece.get("index", len(self._calls))
        index = index if isinstance(index, int) else len(self._calls)
        call = self._calls.setdefault(
            index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
        )
        call["id"] = piece.get("id") or call["id"]
        found = piece.get("function")
        function = found if isinstance(found, dict) else {}
        call["function"]["name"] = function.get("name") or call["function"]["name"]
        call["function"]["arguments"] += str(function.get("arguments") or "")

    def _with_partial(self, error: BigModelError) -> BigModelError:
        error.partial_text = self.text
        return error


class ChatStreamDecoder:
    """Push-style chat-stream decoding: feed raw body chunks (bytes or text), get StreamChunks.

    Used by the HTTP clients, which read the body chunk by chunk. After ``[DONE]`` it ignores
    further input. :meth:`finish` (at end of body) raises if the stream ended
    early."""

    def __init__(self, *, secrets: Iterable[str] = ()) -> None:
        self.reader = ChatStreamReader(secrets=secrets)
        self._lines = LineSplitter()
        self._events = SSEDecoder()

    @property
    def done(self) -> bool:
        return self.reader.done

    def feed(self, raw: bytes | str) -> Iterator[StreamChunk]:
        return self._read_lines(self._lines.feed(raw))

    def finish(self) -> Iterator[StreamChunk]:
        yield from self._read_lines(self._lines.flush())
        pending = None if self.done else self._events.flush()
        if pending is not None and (chunk := self.reader.read(pending)) is not None:
            yield chunk
        self.reader.finish()

    def _read_lines(self, lines: list[str]) -> Iterator[StreamChunk]:
        for line in lines:
            if self.done:
                return
            event = self._events.feed(line)
            if event is not None and (chunk := self.reader.read(event)) is not None:
                yield chunk


def _chunk_from_payload(payload: dict) -> StreamChunk:
    choice = _first_choice(payload.get("choices"))
    delta = found if isinstance(found := choice.get("delta"), dict) else {}
    return StreamChunk(
        id=payload.get("id"),
        delta=delta.get("content") or "",
        reasoning_delta=delta.get("reasoning_content") or "",
        search_results=_objects(payload.get("web_search")),
        tool_call_deltas=_objects(delta.get("tool_calls")),
        finish_reason=choice.get("finish_reason") or None,
        usage=Usage.from_dict(payload.get("usage")),
        model=payload.get("model"),
        raw=payload,
    )


def _objects(found: Any) -> tuple[dict, ...]:
    """The JSON objects of a list the upstream sent (anything else in it is ignored)."""
    if not isinstance(found, list):
        return ()
    return tuple(item for item in found if isinstance(item, dict))


def _first_choice(choices: Any) -> dict:
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return {}
