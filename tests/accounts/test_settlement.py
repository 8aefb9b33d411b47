"""Settlement: exact money, BigModel's deduction order, dated prices, idempotency."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import DailyUsage, LedgerEntry, Pack, Team, UsageRecord
from accounts.services import settlement
from accounts.services.wallet import pack_add, packs_expire, wallet_topup
from tests.accounts.conftest import at, price_from, record

pytestmark = pytest.mark.usefixtures("prices")

GLM_4 = 100_000  # nano-yuan per token: ¥0.1 per 1K


def settle_all():
    while settlement.usage_settle_pending():
        pass


def ledger_of(usage: UsageRecord):
    return [
        (entry.pack.name if entry.pack else "cash", entry.amount_nano, entry.tokens)
        for entry in LedgerEntry.objects.filter(usage=usage).select_related("pack").order_by("id")
    ]


def test_a_turn_is_split_across_two_packs_and_cash(alice):
    team = alice.personal_team
    wallet_topup(team=team, amount_nano=10 * 10**9)
    now = timezone.now()
    later = pack_add(
        team=team,
        name="later",
        size=500,
        models=["glm-4"],
        expires_at=now + timedelta(days=30),
        effective_at=now - timedelta(days=1),
    )
    sooner = pack_add(
        team=team,
        name="sooner",
        size=300,
        expires_at=now + timedelta(days=5),  # all models
        effective_at=now - timedelta(days=1),
    )
    other = pack_add(
        team=team,
        name="other model",
        size=10_000,
        models=["glm-4v"],
        expires_at=now + timedelta(days=1),
        effective_at=now - timedelta(days=1),
    )
    usage = record(alice, prompt=700, completion=400)  # 1,100 tokens at ¥0.1/1K = ¥0.11
    settle_all()
    usage.refresh_from_db()
    assert usage.cost_nano == 1100 * GLM_4 == 110_000_000
    # Soonest-expiring covering pack first (prompt tokens first), then the next, then cash.
    assert ledger_of(usage) == [
        ("sooner", -300 * GLM_4, 300),
        ("later", -500 * GLM_4, 500),
        ("cash", -300 * GLM_4, 0),
    ]
    assert (usage.packs_nano, usage.cash_nano) == (800 * GLM_4, 300 * GLM_4)
    for pack, left in ((sooner, 0), (later, 0), (other, 10_000)):
        pack.refresh_from_db()
        assert pack.remaining == left
    team.refresh_from_db()
    assert team.cash_nano == 10 * 10**9 - 300 * GLM_4
    # ¥100 per million tokens, as nano-yuan per million, for every length
    assert (usage.input_rate, usage.output_rate, usage.tier, usage.price.source) == (
        GLM_4 * 10**6,
        GLM_4 * 10**6,
        "any length",
        "BigModel price table, January 2024",
    )


def test_money_packs_pay_after_token_packs_and_images_skip_token_packs(alice):
    team = alice.personal_team
    now = timezone.now()
    pack_add(
        team=team,
        name="tokens",
        size=1_000_000,
        expires_at=now + timedelta(days=2),
        effective_at=now - timedelta(1),
    )
    pack_add(
        team=team,
        name="voucher",
        size=10**8,
        unit=Pack.Unit.MONEY,
        expires_at=now + timedelta(days=1),
        effective_at=now - timedelta(1),
    )  # ¥0.10, expiring sooner but paid after token packs
    image = record(alice, model="cogview-3", images=1)  # ¥0.10 per image since 2025-02
    settle_all()
    assert ledger_of(image) == [("voucher", -(10**8), 0)]
    team.refresh_from_db()
    assert team.cash_nano == 0


def test_a_postpaid_team_goes_negative_and_a_free_model_costs_nothing(alice):
    team = alice.personal_team
    assert team.billing == "postpaid"  # the default
    paid = record(alice, prompt=1000, completion=1000)
    free = record(alice, model="glm-4-flash", prompt=5000, completion=5000)
    settle_all()
    team.refresh_from_db()
    assert team.cash_nano == -200_000_000  # -¥0.20
    free.refresh_from_db()
    assert free.cost_nano == 0 and ledger_of(free) == [] and free.price is not None
    paid.refresh_from_db()
    assert ledger_of(paid) == [("cash", -200_000_000, 0)]


def test_a_price_change_mid_month_prices_each_call_by_its_time_and_never_touches_the_past(alice):
    before = record(alice, model="glm-4-plus", prompt=1000, when=at("2026-03-10 12:00"))
    settle_all()
    price_from("glm-4-plus", at("2026-03-15 00:00"), {"input_per_m": "2", "output_per_m": "2"})
    just_before = record(alice, model="glm-4-plus", prompt=1000, when=at("2026-03-14 23:59:59"))
    after = record(alice, model="glm-4-plus", prompt=1000, when=at("2026-03-15 00:00"))
    settle_all()
    for usage in (before, just_before, after):
        usage.refresh_from_db()
    # glm-4-plus: ¥5/M from 2025-12-29 (seed), then ¥2/M from the 15th
    assert [before.cost_nano, just_before.cost_nano, after.cost_nano] == [
        5_000_000,
        5_000_000,
        2_000_000,
    ]
    assert before.settled_at < just_before.settled_at and before.cost_nano == 5_000_000  # unchanged


def test_settling_twice_changes_nothing(alice):
    usage = record(alice, prompt=123, completion=456)
    assert [r.id for r in settlement.usage_settle_pending()] == [usage.id]
    state = (
        LedgerEntry.objects.count(),
        list(DailyUsage.objects.values_list("cost_nano", "calls")),
        Team.objects.get(id=alice.personal_team.id).cash_nano,
    )
    assert settlement.usage_settle_pending() == []
    from accounts.tasks import settle_usage_task

    settle_usage_task.apply()  # a second delivery of the task
    assert (
        LedgerEntry.objects.count(),
        list(DailyUsage.objects.values_list("cost_nano", "calls")),
        Team.objects.get(id=alice.personal_team.id).cash_nano,
    ) == state
    assert state[1] == [(579 * GLM_4, 1)]


def test_a_pack_is_used_until_its_expiry_and_never_at_or_after_it(alice):
    team = alice.personal_team
    expiry = at("2026-06-30 23:59:59")
    pack = pack_add(
        team=team, name="june", size=10_000, expires_at=expiry, effective_at=at("2026-06-01 00:00")
    )
    last_moment = record(alice, prompt=100, when=expiry - timedelta(microseconds=1))
    at_expiry = record(alice, prompt=100, when=expiry)
    too_early = record(alice, prompt=100, when=at("2026-05-31 23:59:59"))
    settle_all()
    assert ledger_of(last_moment) == [("june", -100 * GLM_4, 100)]
    assert ledger_of(at_expiry) == [("cash", -100 * GLM_4, 0)]
    assert ledger_of(too_early) == [("cash", -100 * GLM_4, 0)]
    assert packs_expire(now=expiry) == 1
    pack.refresh_from_db()
    assert pack.expired and pack.remaining == 9_900  # what was left stays on record
    late = record(
        alice, prompt=100, when=expiry - timedelta(hours=1)
    )  # settled after the expiry job
    settle_all()
    assert ledger_of(late) == [("cash", -100 * GLM_4, 0)]


def test_reconcile_rebuilds_drifted_rollups_from_the_ledger(alice):
    record(alice, prompt=1000)
    record(alice, prompt=500, model="glm-3-turbo")
    settle_all()
    assert settlement.rollups_reconcile() == {"rows": 2, "drifted": 0}
    DailyUsage.objects.filter(model="glm-4").update(cost_nano=1)
    assert settlement.rollups_reconcile() == {"rows": 2, "drifted": 1}
    assert DailyUsage.objects.get(model="glm-4").cost_nano == 1000 * GLM_4
    assert settlement.cash_drift() == {}


def test_time_travel_across_a_packs_expiry(alice, time_machine):
    """The clock moves, not the records: a call just before the expiry uses the pack; the expiry job
    then marks it; a call just after pays cash."""
    team = alice.personal_team
    time_machine.move_to(at("2026-07-31 23:00"), tick=False)
    pack_add(team=team, name="july", size=1_000, expires_at=at("2026-07-31 23:59:59"))
    time_machine.move_to(at("2026-07-31 23:59:58"), tick=False)
    before = record(alice, prompt=100)
    settle_all()
    assert packs_expire() == 0
    time_machine.move_to(at("2026-07-31 23:59:59"), tick=False)
    assert packs_expire() == 1
    after = record(alice, prompt=100)
    settle_all()
    assert ledger_of(before) == [("july", -100 * GLM_4, 100)]
    assert ledger_of(after) == [("cash", -100 * GLM_4, 0)]
