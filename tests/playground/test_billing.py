"""Every reply that reached the upstream is billed exactly once, however it ends and whatever
becomes of its rows; the team picked in the header pays; a Stop reaches a reply in another web
process."""

import pytest
from django.contrib.auth import get_user_model

from accounts.models import Hold, Team, UsageRecord
from accounts.services import settlement
from bigmodel.simulator import MESSAGE_OVERHEAD, count_tokens
from playground.models import Conversation, ImageGeneration, Message
from playground.services.replies import reply_stream_of
from playground.tasks import sweep_task
from tests.playground.test_streaming import read_events, start_turn, wait_until_final
from tests.playground.test_sweep import make_running_reply, published
from tests.support import http_client_for, wait_until

SLOW = "[[long]] [[fault:latency=40]]"


def settle_all() -> None:
    while settlement.usage_settle_pending():
        pass


def the_one_record(request_id: str) -> UsageRecord:
    """The call's record, settled; and nothing else was billed, and nothing is held."""
    settle_all()
    assert UsageRecord.objects.count() == 1 and not Hold.objects.exists()
    record = UsageRecord.objects.get(request_id=request_id)
    assert record.status == "settled"
    return record


def stopped_over_http(client):
    reply = start_turn(client, f"Write at length {SLOW}", model="glm-4")
    with client.stream("GET", f"/playground/r/{reply.public_id}/stream/") as response:
        read_events(response, stop_after=3)
    client.post(f"/playground/r/{reply.public_id}/stop/")
    return wait_until_final(reply)


def dropped(client):
    return wait_until_final(start_turn(client, "Go on [[fault:drop]]", model="glm-4"))


def without_usage(client):
    return wait_until_final(start_turn(client, "Hi [[fault:nousage]]", model="glm-4"))


def interrupted(client):
    """A runner that died mid-reply (no heartbeat): the beat sweeper finishes it from Redis."""
    user = get_user_model().objects.get(username="alice")
    reply = make_running_reply(user, started_ago=600)
    published(reply_stream_of(reply), "Half a sentence")
    sweep_task.apply()
    reply.refresh_from_db()
    return reply


@pytest.mark.parametrize("end", [stopped_over_http, dropped, without_usage, interrupted])
def test_each_early_end_writes_exactly_one_estimated_record_that_is_settled(alice_http, end):
    reply = end(alice_http)
    assert reply.is_final and reply.usage_exact is False
    record = the_one_record(reply.request_id)
    assert record.exact is False and record.completion_tokens == reply.completion_tokens > 0
    assert record.prompt_tokens == reply.prompt_tokens > 0


def test_a_conversation_deleted_while_its_reply_runs_stops_it_and_bills_it_once(
    alice_http, sim_log
):
    reply = start_turn(alice_http, f"Write at length {SLOW}", model="glm-4")
    with alice_http.stream("GET", f"/playground/r/{reply.public_id}/stream/") as response:
        read_events(response, stop_after=3)
    response = alice_http.post(f"/playground/c/{reply.conversation.public_id}/delete/")
    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/playground/"
    assert not Conversation.objects.exists() and not Message.objects.exists()
    record = the_one_record(reply.request_id)
    assert record.exact is False and record.completion_tokens > 0 and record.cost_nano > 0
    assert [call["body"]["request_id"] for call in sim_log.calls()] == [reply.request_id]


def test_the_runner_bills_its_call_even_when_its_rows_are_gone_before_it_ends(alice_http):
    """The runner records from what it holds itself: rows deleted behind its back (not through the
    delete view, which would stop it first) cannot make the call free."""
    reply = start_turn(alice_http, "Hello there [[fault:latency=30]]", model="glm-4")
    Conversation.objects.all().delete()
    wait_until(lambda: UsageRecord.objects.filter(request_id=reply.request_id).exists())
    record = the_one_record(reply.request_id)
    assert record.exact is True and record.completion_tokens > 0


def test_stop_through_redis_alone_reaches_a_reply_in_another_web_process(
    alice_http, web_process, make_user
):
    other = web_process()
    alice = get_user_model().objects.get(username="alice")
    there = http_client_for(alice, other.url)
    reply = start_turn(there, f"Write at length {SLOW}", model="glm-4")  # runs in the other process
    with there.stream("GET", f"/playground/r/{reply.public_id}/stream/") as response:
        read_events(response, stop_after=3)
    assert (
        alice_http.post(f"/playground/r/{reply.public_id}/stop/").status_code == 204
    )  # asked here
    reply = wait_until_final(reply)
    assert reply.status == "stopped" and reply.usage_exact is False
    assert the_one_record(reply.request_id).exact is False
    there.close()


def test_a_delete_here_stops_and_bills_a_reply_running_in_another_web_process(
    alice_http, web_process, sim_log
):
    other = web_process()
    alice = get_user_model().objects.get(username="alice")
    there = http_client_for(alice, other.url)
    reply = start_turn(there, f"Write at length {SLOW}", model="glm-4")
    with there.stream("GET", f"/playground/r/{reply.public_id}/stream/") as response:
        read_events(response, stop_after=3)
    alice_http.post(f"/playground/c/{reply.conversation.public_id}/delete/")
    assert not Message.objects.exists()
    assert the_one_record(reply.request_id).exact is False
    assert len(sim_log.calls()) == 1
    there.close()


def test_the_team_picked_in_the_header_pays_for_chat_regenerate_edit_and_images(
    alice_http, sim_log
):
    alice = get_user_model().objects.get(username="alice")
    lab = Team.objects.create(name="Lab", billing="postpaid")
    lab.memberships.create(user=alice, role="owner")
    assert alice_http.post("/accounts/team/switch/", data={"team": lab.id}).status_code == 302

    first = wait_until_final(start_turn(alice_http, "Hello", model="glm-4"))
    url = first.conversation.public_id
    alice_http.post(f"/playground/c/{url}/regenerate/", data={"model": "glm-4"})
    wait_until(lambda: not Message.objects.filter(status="running").exists())
    alice_http.post(f"/playground/c/{url}/edit/", data={"model": "glm-4", "message": "Hello again"})
    wait_until(lambda: not Message.objects.filter(status="running").exists())
    alice_http.post("/playground/images/", data={"model": "cogview-3", "prompt": "A lab"})
    assert {m.team_id for m in Message.objects.filter(role="assistant")} == {lab.id}
    assert ImageGeneration.objects.get().team_id == lab.id
    assert set(UsageRecord.objects.values_list("team_id", flat=True)) == {lab.id}
    calls = len(sim_log.calls())

    Team.objects.filter(id=lab.id).update(billing="prepaid")  # and no cash
    refusals = [
        alice_http.post(
            "/playground/send/", data={"model": "glm-4", "message": "More", "conversation": url}
        ),
        alice_http.post(f"/playground/c/{url}/regenerate/", data={"model": "glm-4"}),
        alice_http.post(f"/playground/c/{url}/edit/", data={"model": "glm-4", "message": "Again"}),
        alice_http.post("/playground/images/", data={"model": "cogview-3", "prompt": "Another"}),
    ]
    for response in refusals:
        assert "Lab cannot cover this call" in response.text and "Top up" in response.text
    assert ImageGeneration.objects.count() == 1 and len(sim_log.calls()) == calls
    assert Message.objects.filter(role="assistant").count() == 1  # the last reply is still there


def test_replies_running_at_once_are_limited_per_user(alice_http, settings):
    settings.MAX_RUNNING_REPLIES_PER_USER = 2
    running = [start_turn(alice_http, f"Write at length {SLOW}", model="glm-4") for _ in range(2)]
    refused = alice_http.post("/playground/send/", data={"model": "glm-4", "message": "A third"})
    assert "You have 2 replies being written already (at most 2 at a time)" in refused.text
    for reply in running:
        alice_http.post(f"/playground/r/{reply.public_id}/stop/")
        wait_until_final(reply)
    assert (
        alice_http.post("/playground/send/", data={"model": "glm-4", "message": "Now"}).headers.get(
            "HX-Retarget"
        )
        is None
    )


def test_a_later_turn_s_cache_hits_reach_the_ledger_at_the_cache_hit_rate(alice_http):
    first = wait_until_final(start_turn(alice_http, "Tell me about caches", model="glm-4.7"))
    assert the_one_record(first.request_id).cached_tokens == 0  # nothing sent before
    second = wait_until_final(
        start_turn(
            alice_http,
            "And again",
            model="glm-4.7",
            conversation=str(first.conversation.public_id),
        )
    )
    settle_all()
    record = UsageRecord.objects.get(request_id=second.request_id, status="settled")
    # The simulator serves the earlier turns from its cache: the prompt of the first call plus
    # the reply it gave (each message with its overhead).
    assert record.cached_tokens == first.prompt_tokens + MESSAGE_OVERHEAD + count_tokens(
        first.content
    )
    assert (second.cached_tokens, record.prompt_tokens) == (
        record.cached_tokens,
        second.prompt_tokens,
    )
    assert record.completion_tokens < 200 and record.prompt_tokens < 32_000
    # glm-4.7, input 0–32K, output 0–0.2K: ¥2 uncached, ¥0.4 a cache hit, ¥8 output per million.
    uncached = record.prompt_tokens - record.cached_tokens
    assert record.cost_nano == uncached * 2_000 + record.cached_tokens * 400 + (
        record.completion_tokens * 8_000
    )


@pytest.mark.parametrize("fault", ["500", "1301", "1261"])
def test_a_reply_the_upstream_refused_bills_nothing_and_holds_nothing(alice_http, fault):
    reply = wait_until_final(start_turn(alice_http, f"Hi [[fault:{fault}]]", model="glm-4"))
    assert reply.status == "failed" and reply.error_code == fault
    assert not Hold.objects.exists() and not UsageRecord.objects.exists()


def test_edit_and_resend_while_the_reply_runs_is_refused_in_words(alice_http):
    reply = start_turn(alice_http, f"Write at length {SLOW}", model="glm-4")
    conversation = reply.conversation
    response = alice_http.post(
        f"/playground/c/{conversation.public_id}/edit/",
        data={"model": "glm-4", "message": "Something else"},
    )
    assert response.status_code == 200
    assert "still being written; stop it first" in response.text
    assert conversation.messages.get(role="user").content == f"Write at length {SLOW}"
    alice_http.post(f"/playground/r/{reply.public_id}/stop/")
    wait_until_final(reply)
