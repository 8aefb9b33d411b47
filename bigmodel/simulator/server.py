"""Running the simulator on a real socket in a background thread (for tests and dev)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

import uvicorn
from starlette.applications import Starlette

from .app import create_app
from .state import SimState


class SimulatorHandle:
    """A running simulator: ``base_url`` is what to give an SDK as ``base_url``."""

    def __init__(
        self, server: uvicorn.Server, thread: threading.Thread, host: str, port: int, app: Starlette
    ) -> None:
        self._server = server
        self._thread = thread
        self.host = host
        self.port = port
        self.app = app
        self.root_url = f"http://{_url_host(host)}:{port}"
        self.url = self.root_url  # where /_sim/* and /files/* live
        self.base_url = f"{self.root_url}/api/paas/v4"

    @property
    def state(self) -> SimState:
        return self.app.state.sim

    def stop(self, timeout: float = 5.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout)

    def __enter__(self) -> SimulatorHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before starting so port 0 resolves to a real, known port up front."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def serve_in_thread(
    host: str = "127.0.0.1",
    port: int = 0,
    keys: Sequence[str] = (),
    *,
    log_level: str = "warning",
    start_timeout: float = 10.0,
    **opts: Any,
) -> SimulatorHandle:
    """Start a simulator on ``host:port`` in a daemon thread; ``opts`` go to create_app."""
    app = create_app(list(keys), **opts)
    sock = bind_socket(host, port)
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        backlog=4096,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)

    def run() -> None:
        # Its own loop: the caller's thread may be running (or be) an event loop.
        loop = _new_loop()
        try:
            loop.run_until_complete(server.serve(sockets=[sock]))
        finally:
            loop.close()
            sock.close()

    thread = threading.Thread(target=run, name=f"bigmodel-simulator-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the simulator did not start")
        time.sleep(0.01)
    return SimulatorHandle(server, thread, host, sock.getsockname()[1], app)


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop  # shipped with uvicorn[standard]; noticeably faster under load
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
