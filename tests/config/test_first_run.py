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


@pytest.mark.slow("bin/setup on a new database: every migration, then the commands after it")
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


PORTS = ("PORT", "REDIS_PORT", "SIMULATOR_PORT")


def listening(port: int) -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock


def free_ports_in_a_row(count: int) -> int:
    """The first of ``count`` consecutive ports no program holds."""
    from config.preflight import is_taken

    while True:
        first = free_port()
        if first + count < 65536 and not any(is_taken(first + i) for i in range(count)):
            return first


@pytest.mark.parametrize("setting", PORTS)
def test_a_taken_port_is_named_with_a_free_one_none_of_ours_takes(setting):
    # Taken by another program: `first` and `first + 2`; the next is another of ours.
    first = free_ports_in_a_row(4)
    next_of_ours, last_of_ours = (name for name in PORTS if name != setting)
    while (elsewhere := free_port()) in range(first, first + 4):
        pass
    ports = {setting: first, next_of_ours: first + 1, last_of_ours: elsewhere}
    with listening(first), listening(first + 2):
        result = manage(
            "preflight",
            env=plain_shell(SECRET_KEY="s", ENV_FILE="", **{k: str(v) for k, v in ports.items()}),
        )
    assert result.returncode == 1
    assert f"Port {first}" in result.stderr
    assert f"{setting}={first + 3} make run" in result.stderr, result.stderr
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


def setup(env) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bin/setup"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300
    )


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.mark.slow("bin/setup twice on a new database, and seven commands between")
def test_setup_keeps_its_files_to_their_owner_and_remembers_the_ports_it_was_given(tmp_path):
    env_file, database = tmp_path / ".env", tmp_path / "db.sqlite3"
    ports = {name: str(free_port()) for name in ("PORT", "REDIS_PORT", "SIMULATOR_PORT")}
    where = {"ENV_FILE": str(env_file), "DATABASE_URL": f"sqlite:///{database}"}
    first = setup(plain_shell(**where, **ports, DJANGO_SUPERUSER_PASSWORD="boss-password-1"))
    assert first.returncode == 0, first.stderr
    assert mode(env_file) == 0o600 and mode(database) == 0o600  # they hold the secrets
    # Nothing runs yet, so nothing can be keeping what set-up changes: no warning about it.
    assert "not announced" not in first.stdout + first.stderr

    # A later command from a plain shell talks to the Redis and simulator `make run` started.
    later = plain_shell(**where)
    recorded = show_setting("PORT REDIS_URL ZHIPUAI_BASE_URL", later)
    assert recorded == (
        f"{ports['PORT']} redis://127.0.0.1:{ports['REDIS_PORT']}/0 "
        f"http://127.0.0.1:{ports['SIMULATOR_PORT']}/api/paas/v4"
    )
    assert show_setting("REDIS_URL", {**later, "REDIS_PORT": "7001"}) == (
        "redis://127.0.0.1:7001/0"  # the environment still wins
    )
    redis = _redis_process(int(ports["REDIS_PORT"]), tmp_path)
    try:
        made = manage("createkey", "admin", env=later)
        assert made.returncode == 0, made.stderr
        key_id = made.stdout.strip().split(".")[0]  # the key alone, printed once
        before = kept_stamp(ports["REDIS_PORT"])
        revoked = manage("revokekey", key_id, env=later)
        assert revoked.returncode == 0, revoked.stderr
        assert "not announced" not in revoked.stderr
        assert kept_stamp(ports["REDIS_PORT"]) != before  # every process reads its keys again
    finally:
        redis.kill()
        redis.wait(5)
    # With the app's Redis down, a change is still told not to have reached the other processes.
    unheard = manage("createkey", "admin", env=later)
    assert unheard.returncode == 0, unheard.stderr
    assert "a change to kept rows was not announced (ConnectionError)" in unheard.stderr

    # Another port given to a later run replaces the one remembered.
    again = setup(plain_shell(**where, PORT=(other := str(free_port()))))
    assert again.returncode == 0, again.stderr
    text = env_file.read_text()
    assert re.findall(r"^PORT=.*$", text, re.MULTILINE) == [f"PORT={other}"]
    assert re.findall(r"^REDIS_PORT=.*$", text, re.MULTILINE) == [
        f"REDIS_PORT={ports['REDIS_PORT']}"
    ]


def kept_stamp(port: str) -> bytes | None:
    import redis

    client = redis.Redis(port=int(port))
    try:
        return client.get("kept:stamp")
    finally:
        client.close()
