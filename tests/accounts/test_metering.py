"""Metering end to end over real HTTP with real workers: refused calls never reach the upstream,
the cost is pushed to the page, concurrent calls add up, a killed worker or a dead Redis loses and
doubles nothing."""

import os
import signal
import threading
from contextlib import contextmanager

import pytest
from django.db.models import Sum
from django.utils import timezone

from accounts import money
from accounts.exports import USAGE_COLUMNS
from accounts.models import DailyUsage, LedgerEntry, Team, UsageRecord
from accounts.services.settlement import announce_settled
from accounts.services.usage import usage_record
from bigmodel.usage import CallUsage
from playground.models import Message
from tests.accounts.conftest import held
from tests.conftest import worker_env
from tests.playground.test_streaming import read_events
from tests.support import http_client_for, start_worker, stop_worker, wait_until

GLM_4 = 100_000  # nano-yuan per token


def send(client, text, model="glm-4", conversation=""):
    return client.post(
        "/playground/send/", data={"model": model, "message": text, "conversation": conversation}
    )


def test_a_prepaid_team_at_zero_is_refused_before_any_upstream_call(alice_http, sim_log):
    Team.objects.filter(personal_for__username="alice").update(billing="prepaid")
    response = send(alice_http, "Hello")
    assert response.headers["HX-Retarget"] == "#form-errors"
    assert "cannot cover this call" in response.text and "Top up" in response.text
    assert sim_log.calls() == [] and not Message.objects.exists()
    assert send(alice_http, "Free model", model="glm-4-flash").headers.get("HX-Retarget") is None


def test_the_cost_of_a_reply_is_pushed_once_it_is_settled(alice_http, celery_worker):
    send(alice_http, "What does a reply cost?")
    reply = Message.objects.filter(role="assistant").get()
    with alice_http.stream("GET", f"/playground/r/{reply.public_id}/stream/") as response:
        read_events(response)
    with alice_http.stream("GET", f"/playground/m/{reply.id}/cost/", timeout=60) as response:
        events = read_events(response, stop_after=1)
    reply.refresh_from_db()
    record = UsageRecord.objects.get(request_id=reply.request_id)
    assert record.status == "settled"
    assert record.cost_nano == (reply.prompt_tokens + reply.completion_tokens) * GLM_4
    assert events[0]["event"] == "cost"
    assert (
        f"{money.yuan(record.cost_nano)}" in events[0]["data"]
        and "sse-connect" not in events[0]["data"]
    )


def test_the_cost_pushed_is_the_one_its_settlement_announced(alice_http):
    """The announcement carries what the page shows, so the page reads nothing again: here it is
    made for a record as settled in memory only, and that is what the page is sent."""
    send(alice_http, "What does a reply cost?")
    reply = Message.objects.filter(role="assistant").get()
    with alice_http.stream("GET", f"/playground/r/{reply.public_id}/stream/") as response:
        read_events(response)
    record = UsageRecord.objects.get(request_id=reply.request_id)
    assert record.status == "unsettled"  # no worker runs here
    events: list = []

    def listen() -> None:
        with alice_http.stream("GET", f"/playground/m/{reply.id}/cost/") as response:
            events.extend(read_events(response, stop_after=1))

    listening = threading.Thread(target=listen)
    listening.start()
    record.cost_nano, record.cash_nano, record.packs_nano = 123_456_789, 23_456_789, 100_000_000
    record.price_id, record.status = 1, "settled"
    announce_settled([record])
    listening.join(20)
    assert events[0]["event"] == "cost"
    assert "¥0.1235" in events[0]["data"] and "packs ¥0.1000 + cash ¥0.0235" in events[0]["data"]
    assert UsageRecord.objects.get(id=record.id).status == "unsettled"


@pytest.mark.slow("200 calls through the endpoint at once, then settled by a real worker")
def test_200_concurrent_calls_add_up_in_the_ledger_the_rollups_and_the_csv(
    alice_http, celery_worker, make_user, live_server_url, settings
):
    settings.MAX_RUNNING_REPLIES_PER_USER = 1000
    threads, per_thread = 20, 10
    errors = []
    from django.contrib.auth import get_user_model

    alice = get_user_model().objects.get(username="alice")
    clients = [
        http_client_for(alice, live_server_url) for _ in range(threads)
    ]  # the ORM stays in this thread

    def run(n):
        client = clients[n]
        try:
            for i in range(per_thread):
                response = send(client, f"Load {n}-{i}")
                if response.status_code != 200 or "HX-Retarget" in response.headers:
                    errors.append(response.text[:200])
        finally:
            client.close()

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors
    total = threads * per_thread
    wait_until(
        lambda: Message.objects.filter(role="assistant", status="done").count() == total,
        timeout=60,
    )
    wait_until(lambda: UsageRecord.objects.filter(status="settled").count() == total, timeout=60)

    replies = Message.objects.filter(role="assistant")
    expected = sum((m.prompt_tokens + m.completion_tokens) * GLM_4 for m in replies)
    team = Team.objects.get(personal_for__username="alice")
    assert UsageRecord.objects.count() == total
    assert UsageRecord.objects.aggregate(total=Sum("cost_nano"))["total"] == expected
    assert (
        LedgerEntry.objects.aggregate(total=Sum("amount_nano"))["total"]
        == -expected
        == team.cash_nano
    )
    assert DailyUsage.objects.aggregate(total=Sum("cost_nano"), calls=Sum("calls")) == {
        "total": expected,
        "calls": total,
    }
    today = timezone.localdate().isoformat()
    csv_text = alice_http.get(f"/accounts/usage.csv?start={today}&end={today}").text
    rows = csv_text.strip().splitlines()
    assert len(rows) == total + 2  # header, the calls, the total
    cost = USAGE_COLUMNS.index("cost_yuan")
    assert rows[-1].split(",")[cost] == money.exact(expected)
    summary = alice_http.get("/accounts/summary.json").json()
    assert summary["cash_yuan"] == money.exact(-expected) and summary["unsettled_yuan"] == "0.00"


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return found


@pytest.mark.slow("thousands of records settled, a worker killed among them and another started")
def test_a_worker_killed_during_settlement_loses_and_doubles_nothing(
    transactional_db, celery_worker, make_user, redis_server, upstream
):
    """SIGKILL the worker (and its pool) while it settles thousands of records, start another,
    sweep."""
    from accounts.services.catalogue import catalogue_load, prices_load
    from accounts.tasks import settle_usage_task, usage_sweep_task

    catalogue_load()
    prices_load()
    user = make_user("carol")
    team = user.personal_team
    count = 20_000
    UsageRecord.objects.bulk_create(
        UsageRecord(
            request_id=f"kill-{n}",
            user=user,
            team=team,
            model="glm-4",
            prompt_tokens=n % 97 + 1,
            completion_tokens=n % 13,
        )
        for n in range(count)
    )
    expected = sum((n % 97 + 1 + n % 13) * GLM_4 for n in range(count))
    settle_usage_task.delay()
    wait_until(lambda: UsageRecord.objects.filter(status="settled").exists(), interval=0.02)
    for pid in _children(celery_worker.pid) + [celery_worker.pid]:
        os.kill(pid, signal.SIGKILL)
    celery_worker.wait(10)
    settled = UsageRecord.objects.filter(status="settled")
    assert 0 < settled.count() < count, "the kill came too late to test anything"
    # What was committed is whole: every settled record paid exactly once, none of the rest.
    assert LedgerEntry.objects.count() == settled.count()
    assert (
        Team.objects.get(id=team.id).cash_nano
        == -settled.aggregate(total=Sum("cost_nano"))["total"]
    )

    replacement = start_worker(worker_env(redis_server, upstream))
    try:
        usage_sweep_task.delay()
        wait_until(lambda: not UsageRecord.objects.filter(status="unsettled").exists(), timeout=120)
    finally:
        stop_worker(replacement)
    assert UsageRecord.objects.aggregate(total=Sum("cost_nano"))["total"] == expected
    assert LedgerEntry.objects.count() == count
    assert Team.objects.get(id=team.id).cash_nano == -expected
    assert DailyUsage.objects.aggregate(total=Sum("cost_nano"))["total"] == expected


@contextmanager
def redis_down(server):
    """Stop the real Redis, then start it again on the same port."""
    server.stop()
    try:
        yield
    finally:
        server.restart()


def test_a_record_written_while_redis_is_down_is_settled_by_the_sweeper(
    transactional_db, redis_server, make_user
):
    from accounts.services.catalogue import catalogue_load, prices_load
    from accounts.tasks import usage_sweep_task

    catalogue_load()
    prices_load()
    user = make_user("dave")
    held(user, request_id="while-down", model="glm-4", prompt=10, completion=5)
    with redis_down(redis_server):
        record = usage_record(
            request_id="while-down", used=CallUsage(prompt_tokens=10, completion_tokens=5)
        )  # the enqueue fails; the request does not
    record.refresh_from_db()
    assert record.status == "unsettled"
    usage_sweep_task.apply()
    record.refresh_from_db()
    assert record.status == "settled" and record.cost_nano == 15 * GLM_4
