"""In-memory state of one simulator: request log, stats, async tasks, issued files."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field

from bigmodel.catalogue import ModelSpec, default_catalogue

from .auth import parse_keys
from .chat import AsyncTask
from .errors import MSG_INTERNAL, ApiError
from .faults import Faults, FlakyMemory, from_text, parse_spec
from .images import FileStore

log = logging.getLogger("bigmodel.simulator")

# Entries are small (long strings summarised); /_sim/requests says when some were dropped.
LOG_SIZE = 20_000
MAX_LOGGED_CHARS = 100_000  # longer strings (base64 images) are summarised in the log
MAX_TASKS = 10_000


@dataclass
class Stats:
    requests: int = 0
    disconnects: int = 0
    dropped: int = 0
    active_streams: int = 0
    peak_streams: int = 0
    by_path: Counter = field(default_factory=Counter)
    by_status: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {
            "requests": self.requests,
            "disconnects": self.disconnects,
            "dropped": self.dropped,
            "active_streams": self.active_streams,
            "peak_streams": self.peak_streams,
            "by_path": dict(self.by_path),
            "by_status": {str(k): v for k, v in self.by_status.items()},
        }


class SimState:
    def __init__(
        self,
        keys: list[str],
        latency_ms: float,
        strict: bool,
        default_fault: str | None,
        catalogue: dict[str, ModelSpec] | None,
        async_seconds: float,
    ):
        self.secrets = parse_keys(keys)
        if not self.secrets:
            raise ValueError("the simulator needs at least one API key")
        parse_spec(default_fault)  # fail fast on a typo in --fault
        self.latency_ms = float(latency_ms)
        self.strict = strict
        self.default_fault = default_fault
        self.catalogue = catalogue if catalogue is not None else default_catalogue()
        self.async_seconds = async_seconds
        self.log: deque[dict] = deque(maxlen=LOG_SIZE)
        self.stats = Stats()
        self.flaky = FlakyMemory()
        self.files = FileStore()
        self.tasks: OrderedDict[str, AsyncTask] = OrderedDict()
        self._seq = 0
        self._reset_seq = 0

    # --- bookkeeping ------------------------------------------------------------

    def count(self, route: str) -> None:
        self.stats.requests += 1
        self.stats.by_path[route] += 1

    @property
    def seq(self) -> int:
        return self._seq

    @property
    def dropped(self) -> int:
        """Entries given out since the last reset that the log no longer holds."""
        return self._seq - self._reset_seq - len(self.log)

    def record(self, method: str, path: str) -> dict:
        self._seq += 1
        entry = {
            "seq": self._seq,
            "time": time.time(),
            "method": method,
            "path": path,
            "model": None,
            "auth": None,
            "status": None,
            "body": None,
        }
        self.log.append(entry)
        return entry

    def finish(self, entry: dict, status: int) -> None:
        entry["status"] = status
        self.stats.by_status[status] += 1

    def stream_started(self) -> None:
        self.stats.active_streams += 1
        self.stats.peak_streams = max(self.stats.peak_streams, self.stats.active_streams)

    def stream_ended(self, outcome: str) -> None:
        self.stats.active_streams -= 1
        if outcome != "complete":
            log.info("stream ended early: %s", outcome)
        if outcome == "disconnect":
            self.stats.disconnects += 1
        elif outcome == "drop":
            self.stats.dropped += 1

    def reset(self) -> None:
        self.log.clear()
        self._reset_seq = self._seq
        active = self.stats.active_streams
        self.stats = Stats(active_streams=active, peak_streams=active)
        self.flaky.clear()

    # --- faults -----------------------------------------------------------------

    def faults_for(self, text: str) -> Faults:
        return from_text(text, self.default_fault)

    def gate(self, faults: Faults, path: str, body: dict) -> None:
        """Raise the error a fault asks for, if any."""
        faults.raise_error()
        if faults.flaky and self.flaky.first_time(path, body):
            raise ApiError(500, "500", MSG_INTERNAL)

    async def pause(self, faults: Faults) -> None:
        """The once-per-reply latency for non-streamed responses."""
        delay = faults.latency_ms if faults.latency_ms is not None else self.latency_ms
        if delay > 0:
            await asyncio.sleep(delay / 1000)

    # --- async tasks ------------------------------------------------------------

    def add_task(self, task: AsyncTask) -> None:
        self.tasks[task.task_id] = task
        if len(self.tasks) > MAX_TASKS:
            self.tasks.popitem(last=False)


def loggable(value: object) -> object:
    """A copy of a request body that is safe to keep 200 of (huge strings summarised)."""
    if isinstance(value, str) and len(value) > MAX_LOGGED_CHARS:
        digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]
        return f"{value[:64]}...[{len(value)} chars, sha256 {digest}]"
    if isinstance(value, dict):
        return {k: loggable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [loggable(v) for v in value]
    return value
