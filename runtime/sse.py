"""Server-sent events as this app writes them, for the playground's pages and the endpoint's
callers alike."""

import json
import re
from collections.abc import AsyncIterator
from typing import Any

from django.http import StreamingHttpResponse

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy holds them back


def event(name: str | None, data: str, event_id: str | None = None) -> str:
    """One event, its data the text as it is: a line end of any of SSE's kinds within it is a line
    break (one more data line), never the event's end."""
    lines = [f"id: {event_id}"] if event_id else []
    if name:
        lines.append(f"event: {name}")
    lines += [f"data: {line}" for line in re.split(r"\r\n|\r|\n", data)]
    return "\n".join(lines) + "\n\n"


def json_event(payload: Any) -> str:
    """An unnamed event of one JSON line, as BigModel streams its chunks."""
    return event(None, json.dumps(payload, ensure_ascii=False, separators=(",", ":")))


def event_stream(events: AsyncIterator[str] | AsyncIterator[bytes]) -> StreamingHttpResponse:
    return StreamingHttpResponse(events, content_type="text/event-stream", headers=HEADERS)
