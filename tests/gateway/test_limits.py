"""A key's requests per minute and calls at once, counted in Redis for every web process alike:
a call past either is a 429 with 1302 before anything is sent, and a call's place is given back
however it ends."""

import threading
import time

import httpx

from accounts.models import Hold, UsageRecord
from accounts.services.keys import key_create
from runtime.redis import redis_client
from tests.gateway.conftest import chat, refusal
from tests.support import usage_records

SLOW = [{"role": "user", "content": "Take your time [[fault:ttft=1500]]"}]


def flying(key) -> int:
    return redis_client().zcard(f"apikey:{key.id}:flying")


def test_requests_per_minute_are_counted_across_web_processes(
    alice, live_server_url, web_process, sim_log
):
    key, raw = key_create(user=alice, team=alice.personal_team, name="cron", rpm=3)
    other = web_process()
    assert chat(live_server_url, raw).status_code == 200
    assert chat(other.url, raw).status_code == 200
    assert chat(live_server_url, raw).status_code == 200
    refused = chat(other.url, raw)
    assert refusal(refused) == (429, "1302")
    message = refused.json()["error"]["message"]
    assert "3 requests in the last minute, at most 3" in message
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert len(sim_log.calls()) == 3 and len(usage_records(3)) == 3
    # Another key of the same member has a minute of its own.
    _, unlimited = key_create(user=alice, team=alice.personal_team, name="other")
    assert chat(other.url, unlimited).status_code == 200


def test_calls_at_once_are_capped_across_web_processes_and_given_back_when_they_end(
    alice, live_server_url, web_process, sim_log
):
    key, raw = key_create(user=alice, team=alice.personal_team, name="batch", concurrency=2)
    other = web_process()
    answers: list[httpx.Response] = []
    slow = [
        threading.Thread(
            target=lambda base=base: answers.append(chat(base, raw, SLOW, stream=True))
        )
        for base in (live_server_url, other.url)
    ]
    for thread in slow:
        thread.start()
    deadline = time.monotonic() + 10
    while flying(key) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert flying(key) == 2
    third = chat(other.url, raw)
    assert refusal(third) == (429, "1302")
    assert "2 calls in flight, at most 2 at once" in third.json()["error"]["message"]
    for thread in slow:
        thread.join()
    assert [answer.status_code for answer in answers] == [200, 200]
    assert flying(key) == 0
    assert chat(other.url, raw, stream=True).status_code == 200
    assert flying(key) == 0 and UsageRecord.objects.count() == 3
    assert len(sim_log.calls()) == 3


def test_a_plain_calls_place_is_given_back_before_its_answer(alice, live_server_url):
    """One call at a time, one after another, is never refused: the answer comes before the call
    is recorded, but its place is free by then."""
    key, raw = key_create(user=alice, team=alice.personal_team, name="serial", concurrency=1)
    for n in range(3):
        assert chat(live_server_url, raw, [{"role": "user", "content": f"{n}"}]).status_code == 200
        assert flying(key) == 0
    assert len(usage_records(3)) == 3


def test_a_place_is_given_back_when_the_call_is_refused_upstream_or_by_the_budget(
    alice, live_server_url
):
    key, raw = key_create(user=alice, team=alice.personal_team, name="one", concurrency=1)
    failing = [{"role": "user", "content": "x [[fault:1301]]"}]
    assert refusal(chat(live_server_url, raw, failing)) == (400, "1301")
    assert refusal(chat(live_server_url, raw, failing, stream=True)) == (400, "1301")
    assert flying(key) == 0
    key.budget_nano = 1  # less than a priced call's worst case
    key.save()
    assert refusal(chat(live_server_url, raw, model="glm-4.7")) == (429, "1113")
    assert flying(key) == 0 and not Hold.objects.exists()
    assert not UsageRecord.objects.exists()


def test_a_caller_that_leaves_mid_stream_keeps_its_place_until_the_upstream_is_read(
    alice, live_server_url
):
    key, raw = key_create(user=alice, team=alice.personal_team, name="leaver", concurrency=1)
    long = [{"role": "user", "content": "A long story [[long]] [[fault:latency=5]]"}]
    with httpx.stream(
        "POST",
        f"{live_server_url}/api/paas/v4/chat/completions",
        json={"model": "glm-4-flash", "messages": long, "stream": True},
        headers={"Authorization": f"Bearer {raw}"},
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data: {"):
                break
    assert refusal(chat(live_server_url, raw)) == (429, "1302")  # its call still runs upstream
    deadline = time.monotonic() + 30  # its place is given back once the upstream is read
    while not (UsageRecord.objects.exists() and flying(key) == 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert UsageRecord.objects.get().exact and flying(key) == 0
    assert chat(live_server_url, raw).status_code == 200


def test_with_redis_down_a_limited_key_is_refused_and_an_unlimited_one_works(
    alice, live_server_url, settings, sim_log
):
    _, limited = key_create(user=alice, team=alice.personal_team, name="limited", rpm=100)
    _, unlimited = key_create(user=alice, team=alice.personal_team, name="unlimited")
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    redis_client.cache_clear()
    refused = chat(live_server_url, limited)
    assert refusal(refused) == (503, "503")
    assert "Redis is down" in refused.json()["error"]["message"]
    assert sim_log.calls() == [] and not Hold.objects.exists()
    assert chat(live_server_url, unlimited).status_code == 200


def test_createkey_and_the_keys_page_set_the_limits(alice):
    from django.core.management import call_command
    from django.test import Client

    call_command("createkey", "alice", "--rpm", "60", "--concurrency", "4")
    key = alice.api_keys.get()
    assert (key.rpm, key.concurrency) == (60, 4)
    page = Client()
    page.force_login(alice)
    form = {"name": "ci", "period": "month", "rpm": "0", "concurrency": "2"}
    response = page.post("/accounts/keys/new/", form)
    assert response.status_code == 400 and "Requests a minute:" in response.content.decode()
    response = page.post("/accounts/keys/new/", {**form, "rpm": "30"})
    assert response.status_code == 200
    made = alice.api_keys.get(name="ci")
    assert (made.rpm, made.concurrency) == (30, 2)
    listing = page.get("/accounts/keys/").content.decode()
    assert "30 a minute" in listing and "2 at once" in listing and "60 a minute" in listing


def test_a_caller_that_leaves_while_its_call_waits_for_admission_leaves_nothing_behind(
    alice, live_server_url, sim_log
):
    import json
    import socket
    from urllib.parse import urlsplit

    from django.db import transaction

    from accounts.models import ApiKey

    key, raw = key_create(user=alice, team=alice.personal_team, name="leaver", concurrency=2)
    assert chat(live_server_url, raw).status_code == 200  # its last use noted: no write to wait on
    usage_records(1)
    body = json.dumps({"model": "glm-4-flash", "messages": SLOW}).encode()
    where = urlsplit(live_server_url)
    with transaction.atomic():  # another admission of this key, holding it as admit() does
        list(ApiKey.objects.select_for_update(no_key=True).filter(id=key.id))
        caller = socket.create_connection((where.hostname, where.port))
        caller.sendall(
            f"POST /api/paas/v4/chat/completions HTTP/1.1\r\nHost: {where.netloc}\r\n".encode()
            + f"Authorization: Bearer {raw}\r\nContent-Type: application/json\r\n".encode()
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        deadline = time.monotonic() + 10
        while flying(key) == 0 and time.monotonic() < deadline:  # its place taken: it waits
            time.sleep(0.01)
        assert flying(key) == 1
        caller.close()  # and its caller leaves
    deadline = time.monotonic() + 10  # admitted once the lock is let go, then let go itself
    while (flying(key) or Hold.objects.exists()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert flying(key) == 0 and not Hold.objects.exists()
    assert UsageRecord.objects.count() == 1 and len(sim_log.calls()) == 1  # the first call's


def test_the_members_calls_in_flight_count_the_endpoints_calls_not_the_playgrounds(
    alice, live_server_url, settings
):
    from accounts.services.holds import WorstCase, hold_place
    from tests.support import owner_of

    settings.MAX_API_CALLS_PER_USER = 1
    _, raw = key_create(user=alice, team=alice.personal_team, name="one at a time")
    membership = owner_of(alice.personal_team)
    call = WorstCase(model="glm-4-flash", prompt_tokens=10, completion_tokens=10)
    hold_place(membership=membership, request_id="a-reply", call=call)  # the playground's
    assert chat(live_server_url, raw).status_code == 200
    hold_place(membership=membership, request_id="api-x", call=call, source="api")
    refused = chat(live_server_url, raw)
    assert refusal(refused) == (429, "1302")
    assert "1 calls of your API keys are in flight; at most 1 at once" in refused.text
