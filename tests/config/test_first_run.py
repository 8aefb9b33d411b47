"""The README's commands from a plain shell: the environment wins over .env, which fills in only
what is unset; the first run takes its key and login from the environment; a taken port is named."""

import os
import re
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT, PortTaken, _redis_process, free_port

# What a plain shell in the checkout has: none of the app's settings.
APP_SETTINGS = (
    "SECRET_KEY",
    "DEBUG",
    "ZHIPUAI_API_KEY",
    "ZHIPUAI_BASE_URL",
    "REDIS_URL",
    "DATABASE_URL",
    "DJANGO_SUPERUSER_USERNAME",
    "DJANGO_SUPERUSER_PASSWORD",
    "TIME_ZONE",
    "PORT",
    "REDIS_PORT",
    "SIMULATOR_PORT",
    "ENV_FILE",
    "MEDIA_ROOT",
    "TEST_DATABASE_NAME",
    "PERSONAL_TEAM_BILLING",
    "WEBHOOK_ALLOW_PRIVATE",
)


def plain_shell(**env) -> dict:
    return {**{k: v for k, v in os.environ.items() if k not in APP_SETTINGS}, **env}


def manage(*args, env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def show_setting(names: str, env) -> str:
    wanted = names.split()
    code = f"from django.conf import settings; print(*(getattr(settings, n) for n in {wanted!r}))"
    result = manage("shell", "--no-imports", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_environment_wins_over_the_env_file_which_fills_in_the_rest(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        "SECRET_KEY=from-the-file\nTIME_ZONE=Europe/Paris\nPACK_EXPIRY_ALERT_DAYS=3\n"
    )
    env = plain_shell(ENV_FILE=str(env_file), TIME_ZONE="UTC")
    assert show_setting("TIME_ZONE PACK_EXPIRY_ALERT_DAYS SECRET_KEY", env) == "UTC 3 from-the-file"
    # Set but empty in the shell is still the shell's value.
    assert show_setting("PACK_EXPIRY_ALERT_DAYS", {**env, "PACK_EXPIRY_ALERT_DAYS": ""}) == "7"


def test_money_is_the_site_staffs_unless_configured_otherwise():
    defaults = (
        "PERSONAL_TEAM_BILLING PERSONAL_TEAMS TEAM_OWNERS_MAY_TOP_UP DEFAULT_TEAM_BILLING "
        "WEBHOOK_ALLOW_PRIVATE"
    )
    assert (
        show_setting(defaults, plain_shell(SECRET_KEY="s", ENV_FILE=""))
        == "prepaid True False postpaid False"
    )


def test_the_first_run_takes_the_key_and_the_login_from_the_environment(tmp_path):
    env_file, database = tmp_path / ".env", tmp_path / "db.sqlite3"
    env = plain_shell(
        ENV_FILE=str(env_file),
        DATABASE_URL=f"sqlite:///{database}",
        ZHIPUAI_API_KEY="first-run-id.first-run-secret",
        DJANGO_SUPERUSER_USERNAME="boss",
        DJANGO_SUPERUSER_PASSWORD="boss-password-1",
        PORT=str(free_port()),
    )
    result = subprocess.run(
        ["bin/setup"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "talking to BigModel" in result.stdout and "simulator" not in result.stdout
    assert "Created admin login 'boss'" in result.stdout
    assert "first-run-secret" not in result.stdout + result.stderr
    assert re.search(
        r"^SECRET_KEY=\S{50,}$", env_file.read_text(), re.MULTILINE
    )  # a fresh one was written
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT username, is_superuser FROM auth_user").fetchall() == [
            ("boss", 1)
        ]

    # The README's commands then work from a plain shell: SECRET_KEY comes from the written .env.
    later = plain_shell(ENV_FILE=str(env_file), DATABASE_URL=f"sqlite:///{database}")
    topup = manage("topup", "boss", "5", env=later)
    assert topup.returncode == 0, topup.stderr
    assert "Added ¥5.0000 to boss" in topup.stdout


@pytest.mark.parametrize("setting", ["PORT", "REDIS_PORT", "SIMULATOR_PORT"])
def test_a_taken_port_is_named_with_how_to_pick_another(setting):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        others = {
            name: str(free_port())
            for name in ("PORT", "REDIS_PORT", "SIMULATOR_PORT")
            if name != setting
        }
        result = manage(
            "preflight",
            env=plain_shell(SECRET_KEY="s", ENV_FILE="", **others, **{setting: str(port)}),
        )
    assert result.returncode == 1
    assert f"Port {port}" in result.stderr and f"{setting}={port + 1} make run" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_port_someone_else_holds_is_never_mistaken_for_our_redis(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(PortTaken):
            _redis_process(taken.getsockname()[1], tmp_path)


def test_each_test_run_has_its_own_database_file(settings):
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):  # PostgreSQL runs get a throwaway cluster each
        assert not Path(database["TEST"]["NAME"]).is_relative_to(ROOT)
