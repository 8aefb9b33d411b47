"""`make run` as someone types it, in a copy of the checkout: once every process answers, its last
lines are the address and the admin login it generated; the login page says where that was shown
until the admin has logged in; Ctrl-C ends it quietly."""

import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import time

import httpx
import pytest

from tests.config.test_first_run import plain_shell
from tests.support import ROOT, free_port


def checkout_copy(into) -> object:
    """The checkout's files (not its .env, database or run state) in ``into``, with its venv."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, into / name)
    (into / ".venv").symlink_to(ROOT / ".venv")
    return into


class Output:
    """Lines a process prints, read as they come."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._new: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self._new.put(line.rstrip("\n"))
        self._new.put(None)

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while True:
            line = self._new.get(timeout=max(0.0, deadline - time.monotonic()))
            if line is None:
                raise AssertionError("it ended:\n" + "\n".join(self.lines[-40:]))
            self.lines.append(line)
            if found := re.search(pattern, line):
                return found

    def rest(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while (line := self._new.get(timeout=max(0.0, deadline - time.monotonic()))) is not None:
            self.lines.append(line)
        return "\n".join(self.lines)


@pytest.mark.slow("`make run` in a copy of the checkout: set-up, then five processes")
@pytest.mark.timeout(360)  # set-up and five processes starting, on a busy machine
def test_make_run_shows_the_login_last_and_ctrl_c_ends_it_quietly(tmp_path):
    checkout = checkout_copy(tmp_path)
    port = free_port()
    env = plain_shell(PORT=str(port), REDIS_PORT=str(free_port()), SIMULATOR_PORT=str(free_port()))
    make = subprocess.Popen(
        ["make", "run"],
        cwd=checkout,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    output = Output(make.stdout)
    try:
        shown = output.wait_for(r"^  password: (\S+)$", timeout=300).group(1)
        up = output.wait_for(r"^GLM Console is up: (\S+)", timeout=300)
        again = output.wait_for(r"^  Log in as admin with the password (\S+)$", timeout=5)
        assert up.group(1) == f"http://127.0.0.1:{port}/" and again.group(1) == shown
        started = "\n".join(output.lines)
        # Every process had started, and said so, before these lines.
        assert re.search(r"worker\.1 *\| .*ready", started)
        assert re.search(r"web\.1 *\| .*Application startup complete", started)
        assert not (checkout / ".run" / "first-login").exists()  # shown again once, not kept

        with httpx.Client(base_url=up.group(1), timeout=10) as browser:
            page = browser.get("/accounts/login/").text
            assert "printed in the terminal where <code>make run</code> first ran" in page
            assert shown not in page
            token = browser.cookies["csrftoken"]
            logged_in = browser.post(
                "/accounts/login/",
                data={"username": "admin", "password": shown, "csrfmiddlewaretoken": token},
            )
            assert logged_in.status_code == 302, logged_in.text
        with httpx.Client(base_url=up.group(1), timeout=10) as stranger:
            assert "First time here?" not in stranger.get("/accounts/login/").text
    finally:
        os.killpg(make.pid, signal.SIGINT)  # Ctrl-C, to the whole foreground job
        ended = output.rest(timeout=60)
        make.wait(10)
    assert "make: ***" not in ended and "Error 130" not in ended
    # make, interrupted itself, ends by the same signal (silently), as a shell expects.
    assert make.returncode in (0, -signal.SIGINT)
