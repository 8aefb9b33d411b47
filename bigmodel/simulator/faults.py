"""Fault scenarios, picked per request by ``[[fault:...]]`` markers.

Markers live in the last user message (or the image prompt / embedding input) and
may combine: ``[[fault:latency=20]] [[fault:drop]]`` or ``[[fault:latency=20,drop]]``.
The server-wide ``default_fault`` (``--fault``) uses the same syntax without
brackets."""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from dataclasses import dataclass

from .errors import (
    MSG_BAD_MESSAGES,
    MSG_DAILY_LIMIT,
    MSG_INTERNAL,
    MSG_MODEL_BUSY,
    MSG_NO_BALANCE,
    MSG_PROMPT_TOO_LONG,
    MSG_RATE_LIMIT_OLD,
    MSG_TOO_MANY,
    MSG_UNSAFE,
    MSG_USAGE_CAP,
    ApiError,
)

MARKER_RE = re.compile(r"\[\[fault:([^\]]*)\]\]")
_STRIP_RE = re.compile(r"[ \t]*\[\[fault:[^\]]*\]\][ \t]*")

# name -> (status, code, message); raised instead of replying.
ERROR_FAULTS: dict[str, tuple[int, str, str]] = {
    "429": (429, "1302", MSG_RATE_LIMIT_OLD),
    "1302": (429, "1302", MSG_RATE_LIMIT_OLD),
    "1304": (429, "1304", MSG_DAILY_LIMIT),
    "1305": (429, "1305", MSG_TOO_MANY),
    "1308": (429, "1308", MSG_USAGE_CAP),
    "1310": (429, "1310", MSG_USAGE_CAP),
    "1312": (429, "1312", MSG_MODEL_BUSY),
    "1113": (429, "1113", MSG_NO_BALANCE),
    "1214": (400, "1214", MSG_BAD_MESSAGES),
    "1261": (400, "1261", MSG_PROMPT_TOO_LONG),
    "1301": (400, "1301", MSG_UNSAFE),
    "500": (500, "500", MSG_INTERNAL),
}
FLAGS = {
    "drop",
    "nousage",
    "midstream-error",
    "sensitive",
    "network_error",
    "flaky",
    "task-fail",
    "badjson",
    "nosearch",
}
FAULT_NAMES = sorted(ERROR_FAULTS) + sorted(FLAGS) + ["latency=<ms>", "ttft=<ms>"]


@dataclass
class Faults:
    latency_ms: float | None = None
    ttft_ms: float = 0  # an extra wait before the first chunk (a model that thinks first)
    error: str | None = None
    drop: bool = False
    nousage: bool = False
    midstream_error: bool = False
    finish_reason: str | None = None  # "sensitive" / "network_error"
    flaky: bool = False
    task_fail: bool = False
    badjson: bool = False  # in JSON mode, a reply that does not parse
    nosearch: bool = False  # the web_search tool finds nothing (BigModel then bills no search)

    def add(self, name: str) -> None:
        name = name.strip().lower()
        if not name:
            return
        if name.startswith("latency="):
            self.latency_ms = float(name.split("=", 1)[1])
        elif name.startswith("ttft="):
            self.ttft_ms = float(name.split("=", 1)[1])
        elif name in ERROR_FAULTS:
            self.error = name
        elif name in ("sensitive", "network_error"):
            self.finish_reason = name
        elif name in FLAGS:
            setattr(self, name.replace("-", "_"), True)
        else:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULT_NAMES)}")

    def raise_error(self) -> None:
        if self.error is None:
            return
        status, code, message = ERROR_FAULTS[self.error]
        extra = {"contentFilter": [{"level": 1, "role": "user"}]} if code == "1301" else None
        raise ApiError(status, code, message, extra)


def parse_spec(spec: str | None, into: Faults | None = None) -> Faults:
    """Parse ``"latency=20,drop"``; raises ValueError for unknown names."""
    faults = into or Faults()
    for name in (spec or "").split(","):
        faults.add(name)
    return faults


def from_text(text: str, default: str | None = None) -> Faults:
    """Faults for one request: the server default, then markers found in ``text``."""
    faults = parse_spec(default)
    for spec in MARKER_RE.findall(text or ""):
        try:
            parse_spec(spec, faults)
        except ValueError:
            continue  # an unknown marker is just text, as it would be upstream
    return faults


def strip_markers(text: str) -> str:
    """Remove markers so they never change the deterministic reply."""
    if "[[fault:" not in text:
        return text
    return _STRIP_RE.sub(" ", text).strip()


class FlakyMemory:
    """Remembers request bodies seen by ``flaky``: fail the first time, then succeed."""

    def __init__(self, size: int = 10_000):
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def first_time(self, path: str, body: dict) -> bool:
        rest = {k: v for k, v in body.items() if k != "request_id"}
        raw = json.dumps([path, rest], sort_keys=True, ensure_ascii=False, default=str)
        key = hashlib.sha256(raw.encode("utf-8")).hexdigest()
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return True

    def clear(self) -> None:
        self._seen.clear()
