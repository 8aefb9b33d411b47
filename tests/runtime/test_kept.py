"""Prices and the catalogue are read once by each process and again after a change made anywhere
(runtime.kept): a call is held at the price in force, whichever process admits it."""

from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ModelEntry, Price, PriceTier
from accounts.services.keys import key_create
from accounts.services.pricing import PriceBook
from gateway import services
from runtime.keys import KEPT_STAMP
from runtime.redis import redis_client
from tests.gateway.conftest import chat
from tests.support import usage_records

MODEL = "glm-4-flash"  # free in the seed prices


def new_price(output_per_m: str, *, model: str = MODEL) -> Price:
    price = Price.objects.create(model=model, effective_from=timezone.now() - timedelta(seconds=1))
    PriceTier.objects.create(price=price, input_per_m=0, output_per_m=Decimal(output_per_m))
    return price


def chat_of(base_url: str, raw_key: str, n: int) -> httpx.Response:
    """Call ``n``, at most 1000 tokens long."""
    return chat(base_url, raw_key, [{"role": "user", "content": f"{n}"}], max_tokens=1000)


def test_a_price_added_here_holds_the_next_call_another_process_admits(make_user, web_process):
    alice = make_user("alice")
    _, raw = key_create(user=alice, team=alice.personal_team, name="cron")
    other = web_process()
    assert chat_of(other.url, raw, 1).status_code == 200  # the other process now keeps the prices
    new_price("2")
    assert chat_of(other.url, raw, 2).status_code == 200
    held = [record.held_nano for record in usage_records(2)]
    # 1000 output tokens at ¥2 a million: ¥0.002, in nano-yuan.
    assert held == [0, 2_000_000]


def test_a_model_switched_off_is_refused_by_the_next_call(make_user, live_server_url):
    alice = make_user("alice")
    _, raw = key_create(user=alice, team=alice.personal_team, name="cron")
    assert chat_of(live_server_url, raw, 1).status_code == 200
    entry = ModelEntry.objects.get(name=MODEL)
    entry.enabled = False
    entry.save()
    refused = chat_of(live_server_url, raw, 2)
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "1211")


def admitted_queries(authorization: str) -> list[str]:
    body = b'{"model": "glm-4-flash", "messages": [{"role": "user", "content": "hi"}]}'
    with CaptureQueriesContext(connection) as queries:
        services.call_release(services.admit(authorization, body))
    return [query["sql"] for query in queries.captured_queries]


@pytest.fixture
def authorization(make_user) -> str:
    """A key's Authorization header, with the catalogue and prices committed and read once."""
    from accounts.services.catalogue import catalogue_load, prices_load

    catalogue_load()
    prices_load()
    alice = make_user("alice")
    _, raw = key_create(user=alice, team=alice.personal_team, name="cron")
    admitted_queries(f"Bearer {raw}")
    return f"Bearer {raw}"


def test_admitting_a_call_reads_no_price_and_no_catalogue_while_neither_changed(authorization):
    read = " ".join(admitted_queries(authorization))
    assert "accounts_price" not in read and "accounts_modelentry" not in read
    new_price("2")  # a change: both are read again, once
    read = " ".join(admitted_queries(authorization))
    assert "accounts_price" in read and "accounts_modelentry" in read
    read = " ".join(admitted_queries(authorization))
    assert "accounts_price" not in read


def test_prices_read_in_a_transaction_rolled_back_are_not_kept(transactional_db):
    with pytest.raises(RuntimeError), transaction.atomic():
        new_price("2")
        assert PriceBook().in_force(MODEL, timezone.now()) is not None
        raise RuntimeError("rolled back")
    assert PriceBook().in_force(MODEL, timezone.now()) is None


def test_a_change_made_without_signals_is_seen_once_the_stamp_lapses(transactional_db):
    price = new_price("2")
    assert PriceBook().in_force(MODEL, timezone.now()) == price
    Price.objects.filter(id=price.id).update(effective_from=timezone.now() + timedelta(days=1))
    assert PriceBook().in_force(MODEL, timezone.now()) == price  # kept: nothing announced it
    redis_client().delete(KEPT_STAMP)  # as it lapses after STAMP_SECONDS
    assert PriceBook().in_force(MODEL, timezone.now()) is None


def test_without_redis_prices_are_read_each_time(transactional_db, settings):
    price = new_price("2")
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    redis_client.cache_clear()
    try:
        assert PriceBook().in_force(MODEL, timezone.now()) == price
        Price.objects.filter(id=price.id).update(effective_from=timezone.now() + timedelta(days=1))
        assert PriceBook().in_force(MODEL, timezone.now()) is None
    finally:
        redis_client.cache_clear()


def test_an_admission_asks_redis_for_the_stamp_once(authorization):
    redis_client().config_resetstat()
    admitted_queries(authorization)  # the catalogue and the prices: one stamp
    assert redis_client().info("commandstats")["cmdstat_get"]["calls"] == 1


def test_a_login_leaves_what_is_kept_alone_and_a_user_saved_does_not(make_user, client):
    alice = make_user("alice")
    stamp = redis_client().get(KEPT_STAMP) or ""
    client.force_login(alice)  # saves last_login
    assert redis_client().get(KEPT_STAMP) == stamp != ""
    alice.is_active = False
    alice.save()
    assert redis_client().get(KEPT_STAMP) != stamp


def test_a_playground_turn_asks_redis_for_the_stamp_once(alice_http):
    from tests.playground.test_streaming import read_events, start_turn

    start_turn(alice_http, "The prices and the catalogue are read and kept")
    redis_client().config_resetstat()
    reply = start_turn(alice_http, "Its form and its hold: one stamp")
    with alice_http.stream("GET", f"/playground/r/{reply.public_id}/stream/") as response:
        assert read_events(response)[-1]["event"] == "done"
    assert redis_client().info("commandstats")["cmdstat_get"]["calls"] == 1
