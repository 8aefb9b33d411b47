"""What a web process finishes before it exits: the work its requests left running after they were
answered (a call through the endpoint recorded just after its answer, a playground reply being
written), waited for once uvicorn has closed its connections, for at most DRAIN_SECONDS. Past
that it is cancelled and given STOP_SECONDS to end as a cancel ends it (a reply is saved as
stopped, billed from what it had); a call still left unrecorded is billed from its hold when it
expires."""

import asyncio
import logging

from runtime.asgi_types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

# With uvicorn's own 5 s for open connections, inside a 10 s stop.
DRAIN_SECONDS = 3.0
STOP_SECONDS = 2.0
_unfinished: set[asyncio.Task] = set()


def finish_before_exit(task: asyncio.Task) -> asyncio.Task:
    """Keep ``task`` until it is done, and have the process wait for it at shutdown."""
    _unfinished.add(task)
    task.add_done_callback(_unfinished.discard)
    return task


async def drain(seconds: float = DRAIN_SECONDS, stop_seconds: float = STOP_SECONDS) -> None:
    """Wait for this event loop's unfinished work, for at most ``seconds``; then cancel what is
    left and wait for it to end, for at most ``stop_seconds``."""
    loop = asyncio.get_running_loop()
    if mine := [task for task in _unfinished if task.get_loop() is loop]:
        _, pending = await asyncio.wait(mine, timeout=seconds)
        if pending:
            log.warning("stopping with %d tasks still running", len(pending))
            for task in pending:
                task.cancel()
            _, stuck = await asyncio.wait(pending, timeout=stop_seconds)
            if stuck:
                log.warning("%d tasks did not end when stopped", len(stuck))


class Lifespan:
    """ASGI middleware answering uvicorn's lifespan messages (Django's handler takes none): at
    shutdown, the unfinished work is drained."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            return await self.app(scope, receive, send)
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await drain()
                await send({"type": "lifespan.shutdown.complete"})
                return
