import itertools
import json
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import Price, PriceTier
from accounts.services.catalogue import catalogue_load, prices_load
from accounts.services.usage import usage_record
from bigmodel.usage import CallUsage

_ids = itertools.count(1)


def at(text: str):
    """An aware moment in the app's time zone: at("2026-03-10 12:00")."""
    return timezone.make_aware(datetime.fromisoformat(text))


def price_from(model: str, start, *tiers: dict, source: str = "test", **fields) -> Price:
    """A price row from ``start`` with its tiers, each ``{"input_per_m": "2", "cached_per_m":
    "0.4", "output_per_m": "8", "prompt_from": 0, "prompt_to": 32000, …}`` (¥ per million; a
    missing band is any length, a missing cache-hit price the input price)."""
    row = Price.objects.create(model=model, effective_from=start, source=source, **fields)
    for tier in tiers:
        PriceTier.objects.create(
            price=row, **{"cached_per_m": tier["input_per_m"], "output_per_m": "0", **tier}
        )
    return row


@pytest.fixture
def prices(db):
    catalogue_load()
    prices_load()


@pytest.fixture
def alice(db):
    return get_user_model().objects.create_user("alice", password="alice-password-1")


@pytest.fixture
def bob(db):
    return get_user_model().objects.create_user("bob", password="bob-password-1")


def held(
    user,
    team=None,
    *,
    request_id: str | None = None,
    model="glm-4",
    prompt=0,
    completion=0,
    images=0,
    size="",
    quality="",
    search_engine="",
    api_key=None,
):
    """A call admitted as the request path admits one, its hold placed without the checks (what
    the test is about is what follows): its worst case exactly what it will use, so nothing of it
    is over the hold."""
    from accounts.models import Hold
    from accounts.services.holds import WorstCase
    from accounts.services.pricing import PriceBook

    call = WorstCase(
        model=model, prompt_tokens=prompt, completion_tokens=completion, images=images,
        size=size, quality=quality, search_engine=search_engine, searches=int(bool(search_engine)),
        created_at=timezone.now(),
    )  # fmt: skip
    return Hold.objects.create(
        request_id=request_id or f"req-{next(_ids)}",
        team=team or user.personal_team,
        user=user,
        model=model,
        source="api" if api_key else "playground",
        api_key=api_key,
        prompt_tokens=prompt,
        completion_tokens=completion,
        images=images,
        size=size,
        quality=quality,
        search_engine=search_engine,
        searches=call.searches,
        amount_nano=PriceBook().worst_charge(call).cost_nano,
        expires_at=timezone.now() + timedelta(hours=1),
    )


def record(
    user,
    team=None,
    *,
    model="glm-4",
    prompt=0,
    completion=0,
    cached=0,
    reasoning=0,
    images=0,
    when=None,
    size="",
    quality="",
    exact=True,
    search_engine="",
    searches=0,
    api_key=None,
):
    """A usage record as the request path writes it, in place of its call's hold (settlement is
    left to the test); with ``api_key``, a call through the endpoint with that key."""
    hold = held(
        user, team, model=model, prompt=prompt, completion=completion, images=images, size=size,
        quality=quality, search_engine=search_engine if searches else "", api_key=api_key,
    )  # fmt: skip
    used = CallUsage(
        prompt_tokens=prompt, cached_tokens=cached, completion_tokens=completion,
        reasoning_tokens=reasoning, images=images, search_engine=search_engine if searches else "",
        exact=exact,
    )  # fmt: skip
    made = usage_record(request_id=hold.request_id, used=used)
    assert made is not None
    if when is not None:
        type(made).objects.filter(id=made.id).update(created_at=when)
        made.refresh_from_db()
    return made


class Receiver:
    """A local HTTP endpoint that records every POST; ``reply`` is what it answers."""

    def __init__(self, reply=(200, {"code": 0})):
        self.received: list[tuple[str, dict]] = []
        self.reply = reply
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((self.path, json.loads(body)))
                status, payload = outer.reply
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def close(self):
        self.server.shutdown()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()
