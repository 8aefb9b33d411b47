"""A web process does its requests' sync work on a few long-lived threads, each keeping its SQLite
connection: no thread and no connection is made per request (PostgreSQL's come from its pool)."""

import threading

from django.conf import settings
from django.db import connection
from django.db.backends.signals import connection_created


def test_requests_reuse_the_lanes_threads_and_their_database_connections(alice_http):
    opened: list[str] = []

    def note(sender, **kwargs) -> None:
        opened.append(threading.current_thread().name)

    connection_created.connect(note)
    try:
        for _ in range(3 * settings.WEB_THREADS):
            assert alice_http.get("/playground/").status_code == 200
    finally:
        connection_created.disconnect(note)
    assert all(name.startswith("lane-") for name in opened)
    if connection.vendor == "sqlite":
        assert len(opened) <= settings.WEB_THREADS


def test_djangos_own_middleware_runs_on_the_event_loop_but_for_uploads_and_session_writes(
    alice_http, live_server_url, monkeypatch
):
    """Settings name Django's classes; the web handler runs them in place, going to a lane only
    to parse an upload's form and to store a changed session."""
    from django.contrib.sessions.middleware import SessionMiddleware
    from django.middleware.clickjacking import XFrameOptionsMiddleware
    from django.middleware.csrf import CsrfViewMiddleware
    from django.middleware.security import SecurityMiddleware

    ran: dict[str, set[str]] = {}

    def spy(cls, hook):
        original = getattr(cls, hook)

        def noted(self, request, *args):
            ran.setdefault(f"{cls.__name__}.{hook}", set()).add(threading.current_thread().name)
            return original(self, request, *args)

        monkeypatch.setattr(cls, hook, noted)

    for cls, hook in [
        (SecurityMiddleware, "process_request"),
        (SecurityMiddleware, "process_response"),
        (CsrfViewMiddleware, "process_view"),
        (CsrfViewMiddleware, "process_response"),
        (XFrameOptionsMiddleware, "process_response"),
        (SessionMiddleware, "process_response"),
    ]:
        spy(cls, hook)
    assert alice_http.post("/playground/code/", data={"model": "glm-4-flash"}).status_code == 200
    assert ran and all(threads == {"live-server"} for threads in ran.values()), ran
    ran.clear()
    upload = {"image": ("a.png", b"\x89PNG" + b"0" * 300_000, "image/png")}
    posted = alice_http.post("/playground/code/", data={"model": "glm-4-flash"}, files=upload)
    assert posted.status_code == 200  # an upload's form is parsed off the event loop
    assert ran["CsrfViewMiddleware.process_view"] != {"live-server"}
    ran.clear()
    logout = alice_http.post("/accounts/logout/")  # the session is flushed: stored on a lane
    assert ran["SessionMiddleware.process_response"] != {"live-server"}
    assert f'{settings.SESSION_COOKIE_NAME}=""' in logout.headers["set-cookie"]
