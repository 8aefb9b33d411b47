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
