"""What a hostile or careless client meets: bodies held to a size before they are written anywhere,
live streams limited per user, logins throttled, a Content-Security-Policy, and the production
settings that `check --deploy` has nothing to say about."""

import socket
import subprocess
import sys

import httpx
import pytest
from django.test import Client

from tests.playground.test_streaming import read_events, start_turn
from tests.support import ROOT


def raw_request(port: int, head: str, timeout: float = 5.0) -> str:
    """Send only a request's head and read what comes back (a server that waited for the body
    would time out here)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.encode())
        received = b""
        while chunk := sock.recv(65536):  # the server closes once it has answered
            received += chunk
        return received.decode(errors="replace")


def test_a_body_declared_too_large_is_refused_unread(live_server_url):
    from accounts.services.catalogue import upload_limit

    port = int(live_server_url.rsplit(":", 1)[1])
    # GLM-4.6V (and GLM-5V-Turbo, GLM-4.5V): fifty images of 5 MB, and 1 MB
    assert upload_limit() == 50 * 5 * 1024 * 1024 + 1024 * 1024
    reply = raw_request(
        port,
        "POST /playground/send/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Length: {upload_limit() + 1}\r\nContent-Type: multipart/form-data\r\n\r\n",
    )
    assert reply.startswith("HTTP/1.1 413")
    assert "too large to send: at most 251 MB" in reply
    assert "hx-retarget: #form-errors" in reply.lower()
    other = raw_request(
        port,
        "POST /accounts/topups/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3000000\r\n\r\n",
    )
    assert other.startswith("HTTP/1.1 413") and "at most 3 MB" in other


def test_the_upload_limit_follows_the_catalogue_as_the_admin_edits_it(live_server_url):
    """Vision models edited to take at most two images of 5 MB: a turn may be 11 MB at most, and
    one that says it is larger is refused unread at once."""
    from accounts.models import ModelEntry

    for entry in ModelEntry.objects.filter(kind="vision"):
        entry.spec["images"] = {**entry.spec["images"], "max_count": 2, "max_bytes": 5 * 1048576}
        entry.save()  # as the admin saves it
    port = int(live_server_url.rsplit(":", 1)[1])
    reply = raw_request(
        port,
        "POST /playground/send/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Length: {11 * 1048576 + 1}\r\nContent-Type: multipart/form-data\r\n\r\n",
        timeout=5,
    )
    assert reply.startswith("HTTP/1.1 413") and "at most 11 MB" in reply


def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(live_server_url):
    sent = []

    def body():
        for _ in range(40):  # 40 × 100 KB = 4 MB, past the 2.6 MB a form may have
            sent.append(1)
            yield b"x" * 100_000

    response = httpx.post(f"{live_server_url}/accounts/topups/", content=body(), timeout=30)
    assert response.status_code == 413 and "too large" in response.text


def test_a_body_within_the_limit_goes_through(alice_http):
    response = alice_http.post(
        "/playground/send/", data={"model": "glm-4-flash", "message": "x" * 50_000}
    )
    assert response.status_code == 200


def test_live_streams_are_limited_per_user_and_freed_when_they_close(alice_http, settings):
    settings.MAX_STREAMS_PER_USER = 2
    reply = start_turn(alice_http, "Long [[long]] [[fault:latency=50]]")
    url = f"/playground/r/{reply.public_id}/stream/"
    with alice_http.stream("GET", url) as first, alice_http.stream("GET", url) as second:
        assert (first.status_code, second.status_code) == (200, 200)
        third = alice_http.get(url)
        assert (
            third.status_code == 429 and "Too many live streams are open for you (2)" in third.text
        )
    with alice_http.stream("GET", url) as again:  # the two closed: their slots are free
        assert again.status_code == 200
        read_events(again, stop_after=1)
    alice_http.post(f"/playground/r/{reply.public_id}/stop/")


@pytest.mark.django_db  # the login page asks whether the admin has logged in yet
def test_pages_carry_a_content_security_policy_of_their_own_origin(client):
    policy = client.get("/accounts/login/").headers["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "img-src 'self' data: blob:",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ):
        assert directive in policy
    assert (
        "unsafe-inline" not in policy.split("style-src-attr")[0]
    )  # scripts and style sheets: none inline


def log_in(path: str, address: str, username: str, password: str):
    return Client(REMOTE_ADDR=address).post(path, {"username": username, "password": password})


LOGINS = pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])


@pytest.fixture
def staff(django_user_model):
    """Staff, so the admin's login takes them too."""
    for name in ("alice", "bob"):
        django_user_model.objects.create_user(name, password=f"{name}-password-1", is_staff=True)


@pytest.mark.django_db
@LOGINS
def test_wrong_passwords_pause_that_username_at_that_address_only(path, staff):
    here, elsewhere = "10.0.0.1", "10.0.0.2"
    for _ in range(4):
        assert log_in(path, here, "alice", "wrong").status_code == 200
    assert log_in(path, here, "alice", "wrong").status_code == 429  # the fifth
    locked = log_in(path, here, "alice", "alice-password-1")
    assert locked.status_code == 429 and "Too many failed logins" in locked.content.decode()
    assert "for alice at this address" in locked.content.decode()
    # A colleague behind the same address is not locked out, nor alice from anywhere else: a
    # stranger guessing her password cannot keep her out.
    assert log_in(path, here, "bob", "bob-password-1").status_code == 302
    assert log_in(path, elsewhere, "alice", "alice-password-1").status_code == 302


@pytest.mark.django_db
@LOGINS
def test_an_address_trying_many_usernames_is_paused_for_all(path, staff, settings):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 4
    sprayer = "10.0.0.9"
    for name in ("carol", "dave", "erin"):
        assert log_in(path, sprayer, name, "guess").status_code == 200
    assert log_in(path, sprayer, "frank", "guess").status_code == 429  # the address's fourth
    locked = log_in(path, sprayer, "bob", "bob-password-1")
    assert locked.status_code == 429 and "for everyone at this address" in locked.content.decode()
    assert log_in(path, "10.0.0.10", "bob", "bob-password-1").status_code == 302


def test_an_address_takes_more_wrong_passwords_than_a_username_by_default(settings):
    assert settings.LOGIN_FAILURE_LIMIT == 5
    assert settings.LOGIN_ADDRESS_FAILURE_LIMIT == 50


@pytest.mark.django_db
def test_invite_links_are_https_behind_a_tls_proxy(settings, django_user_model):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.ALLOWED_HOSTS = ["console.example.com"]
    owner = django_user_model.objects.create_user("owner")
    client = Client()
    client.force_login(owner)
    page = client.post(
        "/accounts/team/invite/",
        {"role": "member"},
        headers={"X-Forwarded-Proto": "https", "Host": "console.example.com"},
    ).content.decode()
    assert "<code>https://console.example.com/accounts/invite/" in page


PRODUCTION = {
    "SECRET_KEY": "k7Qm2v9Xz4Lp8Rt1Wy6Bn3Hc5Jd0Fg7Ks2Ae9Uo4Ii8Pl1Zx6Cv3Bm5Nq0Wr",
    "DEBUG": "0",
    "ALLOWED_HOSTS": "console.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://console.example.com",
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    "SECURE_COOKIES": "1",
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
    "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    "EMAIL_HOST": "smtp.example.com",
}


def deploy_check(**env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**dict(__import__("os").environ), **env},
    )


def test_check_deploy_is_clean_with_the_documented_production_settings():
    clean = deploy_check(**PRODUCTION)
    assert clean.returncode == 0, clean.stderr
    assert "no issues" in clean.stdout
    plain = deploy_check(**{**PRODUCTION, "SECURE_COOKIES": "0", "SECURE_HSTS_SECONDS": "0"})
    assert (
        plain.returncode != 0
        and "security.W004" in plain.stderr
        and "security.W012" in plain.stderr
    )


def test_the_example_env_documents_every_production_setting():
    example = (ROOT / ".env.example").read_text()
    for name in PRODUCTION:
        assert f"{name}=" in example, name
