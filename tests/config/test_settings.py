"""Settings come from the environment, strictly: a bad value stops the app at start with a clear
message."""

import os
import subprocess
import sys

from tests.support import ROOT


def start_up(**env) -> subprocess.CompletedProcess:
    base = {
        key: value
        for key, value in os.environ.items()
        if key not in ("ZHIPUAI_API_KEY", "DEBUG", "SECRET_KEY")
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**base, **env},
        timeout=60,
    )


def test_a_key_without_id_and_secret_is_a_start_up_error_that_does_not_echo_it():
    result = start_up(SECRET_KEY="s", ZHIPUAI_API_KEY="not-a-valid-key-at-all")
    assert result.returncode != 0
    assert "ZHIPUAI_API_KEY" in result.stderr and "<id>.<secret>" in result.stderr
    assert "not-a-valid-key-at-all" not in result.stderr


def test_a_well_formed_key_starts():
    assert start_up(SECRET_KEY="s", ZHIPUAI_API_KEY="some-id.some-secret").returncode == 0


def test_secret_key_is_required_unless_debugging():
    assert "SECRET_KEY is required" in start_up().stderr
    assert start_up(DEBUG="1").returncode == 0


def test_a_bad_boolean_is_an_error_not_a_guess():
    result = start_up(SECRET_KEY="s", DEBUG="maybe")
    assert result.returncode != 0 and "DEBUG must be a boolean" in result.stderr
