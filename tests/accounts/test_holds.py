"""Admission: a call's worst case is held against what the team has available (cash and usable
packs less unsettled usage and other holds) and what the member may still spend, before anything is
sent; the call's usage record takes the hold's place; a call that made nothing gives it back."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.models import Hold, Team, UsageRecord
from accounts.services import settlement
from accounts.services.holds import (
    SpendRefused,
    WorstCase,
    hold_place,
    hold_release,
    holds_expire,
    team_standing,
)
from accounts.services.teams import member_add, member_set_cap
from accounts.services.usage import usage_record
from accounts.services.wallet import pack_add, wallet_topup
from bigmodel.usage import CallUsage
from tests.accounts.conftest import record
from tests.support import committed_after_read, owner_of

pytestmark = pytest.mark.usefixtures("prices")

GLM_4 = 100_000  # nano-yuan per token


def chat(tokens_in: int, tokens_out: int, model: str = "glm-4") -> WorstCase:
    return WorstCase(model=model, prompt_tokens=tokens_in, completion_tokens=tokens_out)


def prepaid(team: Team, cash_nano: int = 0) -> Team:
    Team.objects.filter(id=team.id).update(billing="prepaid")
    if cash_nano:
        wallet_topup(team=team, amount_nano=cash_nano)
    team.refresh_from_db()
    return team


def bob_in(team: Team, bob, cap_nano: int | None):
    membership = member_add(team=team, user=bob, by=owner_of(team))
    return member_set_cap(membership=membership, cap_nano=cap_nano, by=owner_of(team))


def test_holds_count_against_the_cash_until_the_usage_replaces_them(alice):
    team = prepaid(alice.personal_team, cash_nano=200 * GLM_4)  # ¥0.02
    owner = owner_of(team)
    first = hold_place(membership=owner, request_id="r1", call=chat(10, 100))  # ¥0.011 worst case
    assert first.amount_nano == 110 * GLM_4
    with pytest.raises(SpendRefused, match=r"could cost up to ¥0\.0110, and ¥0\.0090 is available"):
        hold_place(membership=owner, request_id="r2", call=chat(10, 100))
    assert not Hold.objects.filter(request_id="r2").exists()

    other = record(alice, prompt=10, completion=40)  # another call, not r1, held at its cost
    assert other.held_nano == 50 * GLM_4
    usage = usage_record(
        request_id="r1", used=CallUsage(prompt_tokens=10, completion_tokens=40)
    )  # the real call cost ¥0.005
    assert usage.held_nano == 110 * GLM_4 and not Hold.objects.filter(request_id="r1").exists()
    # ¥0.02 − ¥0.005 (r1) − ¥0.005 (the other record) = ¥0.01: still short of ¥0.011 …
    with pytest.raises(SpendRefused):
        hold_place(membership=owner, request_id="r2", call=chat(10, 100))
    # … but a smaller worst case fits, and settling changes nothing about what is available.
    assert (
        hold_place(membership=owner, request_id="r3", call=chat(10, 90)).amount_nano == 100 * GLM_4
    )
    before = team_standing(team=team).available_cash_nano
    while settlement.usage_settle_pending():
        pass
    assert team_standing(team=team).available_cash_nano == before == 0


def test_packs_carry_a_hold_in_the_wallets_order(alice):
    team = prepaid(alice.personal_team)
    now = timezone.now()
    pack_add(
        team=team,
        name="glm-4 tokens",
        size=250,
        models=["glm-4"],
        expires_at=now + timedelta(days=1),
    )
    owner = owner_of(team)
    hold_place(membership=owner, request_id="a", call=chat(20, 100))  # 120 of 250 tokens
    hold_place(membership=owner, request_id="b", call=chat(30, 100))  # 130 more: exactly used up
    with pytest.raises(SpendRefused, match="no pack covers the rest"):
        hold_place(membership=owner, request_id="c", call=chat(1, 0))
    assert (
        hold_place(
            membership=owner, request_id="free", call=chat(500, 500, model="glm-4-flash")
        ).amount_nano
        == 0
    )
    standing = team_standing(team=team)
    assert (standing.held_calls, standing.held_nano) == (3, 250 * GLM_4)
    assert [pack.remaining for pack in standing.wallet.packs] == [0]


def test_a_call_that_made_nothing_gives_its_hold_back_and_the_sweeper_frees_a_dead_ones(alice):
    team = prepaid(alice.personal_team, cash_nano=110 * GLM_4)
    owner = owner_of(team)
    hold_place(membership=owner, request_id="failed", call=chat(10, 100))
    hold_release(request_id="failed")
    dead = hold_place(membership=owner, request_id="dead", call=chat(10, 100))
    assert holds_expire(now=dead.expires_at - timedelta(seconds=1)) == 0
    assert holds_expire(now=dead.expires_at) == 1
    again = hold_place(membership=owner, request_id="again", call=chat(10, 100))
    Hold.objects.filter(id=again.id).update(expires_at=timezone.now() - timedelta(seconds=1))
    from accounts.tasks import usage_sweep_task

    usage_sweep_task.apply()  # the beat job does it
    assert not Hold.objects.exists()


@pytest.mark.parametrize("billing", ["prepaid", "postpaid"])
def test_no_team_is_admitted_a_call_to_a_model_without_a_price(alice, billing):
    team = prepaid(alice.personal_team, cash_nano=10**9)
    Team.objects.filter(id=team.id).update(billing=billing)
    with pytest.raises(SpendRefused, match="glm-9-unpriced has no price in force"):
        hold_place(
            membership=owner_of(team), request_id="x", call=chat(10, 10, model="glm-9-unpriced")
        )
    assert not Hold.objects.exists()


def test_a_member_is_admitted_up_to_exactly_the_cap_and_never_past_it(alice, bob):
    team = alice.personal_team  # postpaid: only the cap limits bob
    bob_ = bob_in(team, bob, cap_nano=1_000 * GLM_4)  # ¥0.10
    record(bob, team, prompt=600)  # ¥0.06, settled
    while settlement.usage_settle_pending():
        pass
    record(bob, team, prompt=100)  # ¥0.01, unsettled: it counts
    hold_place(membership=bob_, request_id="a", call=chat(100, 100))  # ¥0.02 held: ¥0.09 committed
    with pytest.raises(
        SpendRefused,
        match=r"up to ¥0\.0101, and you have ¥0\.0100 left of your monthly cap of ¥0\.1000",
    ):
        hold_place(membership=bob_, request_id="b", call=chat(1, 100))  # one token past the cap
    assert hold_place(membership=bob_, request_id="c", call=chat(0, 100))  # exactly at the cap
    assert hold_place(
        membership=bob_, request_id="d", call=chat(9, 9, model="glm-4-flash")
    )  # free: no cost
    with pytest.raises(SpendRefused):
        hold_place(membership=bob_, request_id="e", call=chat(0, 1))
    assert hold_place(
        membership=owner_of(team), request_id="f", call=chat(0, 10_000)
    )  # alice has no cap


def test_an_upstream_that_used_more_than_was_held_is_recorded_as_over_the_hold(alice):
    team = alice.personal_team
    hold_place(membership=owner_of(team), request_id="over", call=chat(10, 100))
    usage_record(request_id="over", used=CallUsage(prompt_tokens=10, completion_tokens=130))
    while settlement.usage_settle_pending():
        pass
    usage = UsageRecord.objects.get(request_id="over")
    assert (usage.held_nano, usage.cost_nano, usage.over_hold_nano) == (
        110 * GLM_4,
        140 * GLM_4,
        30 * GLM_4,
    )
    client = Client()
    client.force_login(alice)
    page = client.get("/accounts/").content.decode()
    assert "more than was held" in page and "¥0.003" in page


def test_the_balance_card_shows_what_is_held_and_what_is_still_available(alice):
    team = prepaid(alice.personal_team, cash_nano=10**9)  # ¥1
    hold_place(membership=owner_of(team), request_id="h", call=chat(24, 1000))  # ¥0.1024
    client = Client()
    client.force_login(alice)
    page = client.get("/accounts/").content.decode()
    assert 'data-held="102400000"' in page and 'data-available="897600000"' in page
    assert "1 call in progress" in page


def test_a_member_team_or_key_with_a_call_in_flight_cannot_be_deleted_from_under_it(alice):
    from django.db.models import ProtectedError

    from accounts.services.keys import key_create

    key, _ = key_create(user=alice, team=alice.personal_team, name="cron")
    hold_place(
        membership=owner_of(alice.personal_team),
        request_id="r1",
        call=chat(10, 100),
        source=UsageRecord.Source.API,
        api_key_id=key.id,
    )
    for row in (alice, alice.personal_team, key):
        with pytest.raises(ProtectedError):
            row.delete()
    assert Hold.objects.filter(request_id="r1").exists()  # the call can still be recorded


READ_COMMITTED_ONLY = pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="SQLite's IMMEDIATE transactions hold the whole database: no record can be written "
    "between two reads of an admission",
)


@READ_COMMITTED_ONLY
@pytest.mark.parametrize("limit", ["cash", "cap"])
@pytest.mark.parametrize("after_read", [1, 2])  # the holds and the unsettled records
def test_a_call_recorded_while_another_is_admitted_is_counted_once_at_least(
    alice, transactional_db, limit, after_read
):
    """Under read committed, a call's record can commit between an admission's reads of the holds
    and of the records that replace them: it must not fall between the two, whether the team's
    cash or the member's cap is what limits."""
    one = chat(100, 100)  # ¥0.02 at glm-4's ¥0.1 per thousand
    held = 200 * GLM_4
    team = alice.personal_team
    if limit == "cash":
        prepaid(team, cash_nano=held + held // 2)  # one fits, not two
    else:
        member_set_cap(membership=owner_of(team), cap_nano=held + held // 2, by=owner_of(team))
    first = hold_place(membership=owner_of(team), request_id="first", call=one)

    def record_first() -> None:
        usage_record(request_id="first", used=CallUsage(prompt_tokens=100, completion_tokens=100))

    with committed_after_read(after_read, record_first) as recorded, pytest.raises(SpendRefused):
        hold_place(membership=owner_of(team), request_id="second", call=one)
    assert recorded.is_set() and not Hold.objects.exists()
    assert UsageRecord.objects.get().held_nano == first.amount_nano
