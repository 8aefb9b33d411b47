"""A web process's few long-lived threads for the sync work of its requests and of the tasks they
leave running.

Under ASGI, Django gives every request a thread of its own for its sync work (the ORM, sync
views, middleware hooks), made when the request first needs it and kept until its response ends:
a thread made per request, and one held for an open stream's whole life. Here a request (or a
detached task) takes one of ``WEB_THREADS`` lanes instead, the one with the least work waiting
and then the fewest holders. A lane runs one call at a time, so a request's calls still run in
order on one thread, as Django's thread-sensitive mode needs; requests that share a lane take
turns on it.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Self

from asgiref.sync import ThreadSensitiveContext
from django.conf import settings

from runtime.asgi_types import ASGIApp, Receive, Scope, Send


class Lane(ThreadPoolExecutor):
    def __init__(self, index: int) -> None:
        super().__init__(max_workers=1, thread_name_prefix=f"lane-{index}")
        self.waiting = 0  # calls submitted and not yet finished
        self.holders = 0  # requests and tasks using this lane
        self._count = threading.Lock()

    def submit[**P, T](self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        with self._count:
            self.waiting += 1
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def _done(self, _: Future) -> None:
        with self._count:
            self.waiting -= 1


_lanes: list[Lane] = []


def lanes_busy() -> int:
    """Calls on the lanes not finished yet: a task cancelled while it waited on one leaves its call
    running there."""
    return sum(lane.waiting for lane in _lanes)


def _least_busy() -> Lane:
    if not _lanes:
        _lanes.extend(Lane(index) for index in range(settings.WEB_THREADS))
    return min(_lanes, key=lambda lane: (lane.waiting, lane.holders))


class OnLane(ThreadSensitiveContext):
    """``async with OnLane():`` — the block's thread-sensitive calls run on a pooled lane. Django's
    own per-request context inside it then changes nothing (only the outermost one counts)."""

    def __init__(self) -> None:
        self.lane = _least_busy()
        super().__init__(executor=self.lane)

    async def __aenter__(self) -> Self:
        self.lane.holders += 1
        return await super().__aenter__()

    async def __aexit__(self, *exc: object) -> None:
        self.lane.holders -= 1
        return await super().__aexit__(*exc)


async def on_lane[T](work: Awaitable[T]) -> T:
    """Await ``work`` in a lane of its own: for a task that outlives the request that started it
    (a request's lane is gone for its tasks once it ends)."""
    async with OnLane():
        return await work


class RequestLanes:
    """ASGI middleware: each request runs on a lane."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        async with OnLane():
            await self.app(scope, receive, send)
