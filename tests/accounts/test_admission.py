"""Admission under load, over real HTTP through two web processes on one database: however many
sends race for the last yuan, only the calls whose worst case fits are made; the rest are refused
with a message and never reach the upstream."""

import threading

import pytest
from django.db.models import Sum

from accounts.models import Hold, Team, UsageRecord
from accounts.services import settlement
from accounts.services.teams import member_add, member_set_cap
from accounts.services.wallet import wallet_topup
from playground.models import Message
from tests.support import http_client_for, owner_of, wait_until

GLM_4 = 100_000  # nano-yuan per token
# Every send is as long as every other: the message, {"role": "user", "content":
# "[[fault:latency=400]] race 07"}, is 60 bytes of JSON, which the prompt's bound counts as 60
# tokens, plus 16 for the message and 64 for the call: 140. With max_tokens 100 the worst case
# is 240 tokens at ¥0.1/1K.
WORST = (140 + 100) * GLM_4
LIMITS = {"MAX_RUNNING_REPLIES_PER_USER": "100"}  # the caps and balances under test, not this limit


def race(user, urls: list[str], sends: int, team: Team) -> list:
    """``sends`` sends at once, spread over the web processes, each from its own client (a session
    of its own, with ``team`` picked in the header)."""
    clients = [http_client_for(user, urls[n % len(urls)]) for n in range(sends)]
    for client in clients:
        assert client.post("/accounts/team/switch/", data={"team": team.id}).status_code == 302
    responses: list = [None] * sends
    barrier = threading.Barrier(sends)

    def send(n: int) -> None:
        barrier.wait()
        responses[n] = clients[n].post(
            "/playground/send/",
            data={
                "model": "glm-4",
                "message": f"[[fault:latency=400]] race {n:02d}",
                "max_tokens": "100",
            },
        )

    threads = [threading.Thread(target=send, args=(n,)) for n in range(sends)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client in clients:
        client.close()
    return responses


def stop_and_settle(user, url: str) -> None:
    client = http_client_for(user, url)
    for reply in Message.objects.filter(role="assistant", status="running"):
        client.post(f"/playground/r/{reply.public_id}/stop/")
    client.close()
    wait_until(lambda: not Message.objects.filter(status="running").exists())
    while settlement.usage_settle_pending():
        pass


def admitted_and_refused(responses) -> tuple[list, list]:
    assert all(response.status_code == 200 for response in responses)
    refused = [r for r in responses if r.headers.get("HX-Retarget") == "#form-errors"]
    return [r for r in responses if r not in refused], refused


@pytest.mark.timeout(180)
def test_twenty_sends_against_cash_for_three_worst_cases_admit_three(
    make_user, web_process, sim_log
):
    alice = make_user("alice")
    team = alice.personal_team
    Team.objects.filter(id=team.id).update(billing="prepaid")
    wallet_topup(team=team, amount_nano=4 * WORST - 1)  # three fit, a fourth does not
    urls = [web_process(**LIMITS).url, web_process(**LIMITS).url]

    admitted, refused = admitted_and_refused(race(alice, urls, 20, team))
    assert len(admitted) == 3 and len(refused) == 17
    assert all("cannot cover this call" in r.text and "Top up" in r.text for r in refused)
    assert sorted(Hold.objects.values_list("amount_nano", flat=True)) == [WORST] * 3
    replies = list(Message.objects.filter(role="assistant"))
    assert len(replies) == 3
    assert sorted(call["body"]["request_id"] for call in sim_log.calls()) == sorted(
        m.request_id for m in replies
    )

    stop_and_settle(alice, urls[0])
    team.refresh_from_db()
    assert UsageRecord.objects.count() == 3 and not Hold.objects.exists()
    assert (
        team.cash_nano
        == 4 * WORST - 1 - UsageRecord.objects.aggregate(total=Sum("cost_nano"))["total"]
        >= 0
    )


@pytest.mark.timeout(180)
def test_twenty_sends_by_a_member_capped_at_three_worst_cases_admit_three(
    make_user, web_process, sim_log
):
    alice, bob = make_user("alice"), make_user("bob")
    team = alice.personal_team  # postpaid: only bob's cap holds him
    membership = member_add(team=team, user=bob, by=owner_of(team))
    member_set_cap(membership=membership, cap_nano=3 * WORST, by=owner_of(team))  # exactly three
    urls = [web_process(**LIMITS).url, web_process(**LIMITS).url]

    admitted, refused = admitted_and_refused(race(bob, urls, 20, team))
    assert len(admitted) == 3
    assert all("left of your monthly cap of ¥0.0720" in r.text for r in refused)
    assert len(sim_log.calls()) == 3

    stop_and_settle(bob, urls[0])
    spent = UsageRecord.objects.filter(user=bob).aggregate(total=Sum("cost_nano"))["total"]
    assert 0 < spent <= 3 * WORST


def test_a_near_empty_team_and_a_tiny_cap_admit_none_of_eight_sends(
    make_user, web_process, sim_log
):
    """The case that was found: 8 concurrent sends by a member with a ¥0.000001 cap in a prepaid
    team with ¥0.000000001 cash were all admitted and billed ¥0.0256."""
    alice, bob = make_user("alice"), make_user("bob")
    team = alice.personal_team
    Team.objects.filter(id=team.id).update(billing="prepaid")
    wallet_topup(team=team, amount_nano=1)
    membership = member_add(team=team, user=bob, by=owner_of(team))
    member_set_cap(membership=membership, cap_nano=1_000, by=owner_of(team))
    urls = [web_process(**LIMITS).url, web_process(**LIMITS).url]

    admitted, refused = admitted_and_refused(race(bob, urls, 8, team))
    assert admitted == [] and len(refused) == 8
    assert sim_log.calls() == [] and not Message.objects.exists() and not Hold.objects.exists()
