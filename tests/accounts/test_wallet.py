"""The wallet's one rule of what pays, worked by hand: token packs for the model (soonest-expiring
first, prompt tokens before completion tokens, each at its own price), then money packs the same
way, then cash; images never from token packs. Settlement, the CSV and admission agree on it."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import LedgerEntry, Pack, Price, Team, UsageRecord
from accounts.services import settlement
from accounts.services.holds import SpendRefused, WorstCase, hold_place
from accounts.services.wallet import pack_add, wallet_topup
from tests.accounts.conftest import price_from, record
from tests.support import http_client_for, owner_of

pytestmark = pytest.mark.usefixtures("prices")

INPUT, OUTPUT = 2_000, 8_000  # nano-yuan per token: ¥2 and ¥8 per million


def settle_all():
    while settlement.usage_settle_pending():
        pass


def ledger(usage: UsageRecord) -> list[tuple[str, int, int]]:
    return [
        (entry.pack.name if entry.pack else "cash", entry.amount_nano, entry.tokens)
        for entry in LedgerEntry.objects.filter(usage=usage).select_related("pack").order_by("id")
    ]


def test_a_call_at_unequal_prices_split_across_two_token_packs_two_money_packs_and_cash(
    alice, live_server_url
):
    team = alice.personal_team
    now = timezone.now()
    start = now - timedelta(days=1)
    price_from(
        "glm-4.5",
        start,
        {"input_per_m": "2", "output_per_m": "8"},
        source="test: unequal prices",
    )
    wallet_topup(team=team, amount_nano=10**9)  # ¥1 cash
    # Made in an order other than their expiry, to see the expiry decide.
    pack_add(
        team=team,
        name="money later",
        size=500_000,
        unit=Pack.Unit.MONEY,
        expires_at=now + timedelta(days=3),
        effective_at=start,
    )
    pack_add(
        team=team,
        name="tokens later",
        size=1_000,
        models=["glm-4.5"],
        expires_at=now + timedelta(days=2),
        effective_at=start,
    )
    pack_add(
        team=team,
        name="money sooner",
        size=1_000_000,
        unit=Pack.Unit.MONEY,
        expires_at=now + timedelta(hours=1),
        effective_at=start,
    )
    pack_add(
        team=team,
        name="tokens sooner",
        size=1_000,
        expires_at=now + timedelta(days=1),
        effective_at=start,
    )
    pack_add(
        team=team,
        name="other model",
        size=10**6,
        models=["glm-4v"],
        expires_at=now + timedelta(hours=2),
        effective_at=start,
    )

    usage = record(alice, model="glm-4.5", prompt=1_500, completion=800)
    settle_all()
    usage.refresh_from_db()

    # 1,500 × ¥0.002/1K + 800 × ¥0.008/1K = ¥0.003 + ¥0.0064 = ¥0.0094
    assert usage.cost_nano == 1_500 * INPUT + 800 * OUTPUT == 9_400_000
    assert ledger(usage) == [
        ("tokens sooner", -1_000 * INPUT, 1_000),  # prompt tokens 1–1,000: ¥0.002
        (
            "tokens later",
            -(500 * INPUT + 500 * OUTPUT),
            1_000,
        ),  # prompt 1,001–1,500, completion 1–500: ¥0.005
        ("money sooner", -1_000_000, 0),  # completion 501–800 is ¥0.0024: ¥0.001 of it
        ("money later", -500_000, 0),  # ¥0.0005 more
        ("cash", -900_000, 0),  # the last ¥0.0009
    ]
    assert (usage.packs_nano, usage.cash_nano) == (8_500_000, 900_000)
    assert Pack.objects.get(name="other model").remaining == 10**6
    assert Team.objects.get(id=team.id).cash_nano == 10**9 - 900_000

    today = timezone.localdate().isoformat()
    client = http_client_for(alice, live_server_url)
    rows = list(
        csv.DictReader(
            io.StringIO(client.get(f"/accounts/usage.csv?start={today}&end={today}").text)
        )
    )
    client.close()
    assert rows[0]["paid_from"] == (
        "pack tokens sooner 0.002 (1000 tokens); pack tokens later 0.005 (1000 tokens); "
        "pack money sooner 0.001; pack money later 0.0005; cash 0.0009"
    )
    assert rows[0]["unit_price"] == "in 2.00 / cache hit 2.00 / out 8.00 per M tokens"
    assert rows[-1]["time"] == "total" and rows[-1]["cost_yuan"] == "0.0094"


def test_images_are_priced_by_size_and_never_paid_from_token_packs(alice):
    team = alice.personal_team
    now = timezone.now()
    start = now - timedelta(days=1)
    Price.objects.create(
        model="cogview-4", effective_from=start, per_image=Decimal("0.06"), source="test"
    )
    Price.objects.create(
        model="cogview-4",
        size="1440x720",
        effective_from=start,
        per_image=Decimal("0.08"),
        source="test",
    )
    pack_add(
        team=team,
        name="tokens",
        size=10**6,
        models=["cogview-4"],
        expires_at=now + timedelta(days=1),
        effective_at=start,
    )
    pack_add(
        team=team,
        name="voucher",
        size=70_000_000,
        unit=Pack.Unit.MONEY,
        expires_at=now + timedelta(days=2),
        effective_at=start,
    )  # ¥0.07
    wide = record(alice, model="cogview-4", images=1, size="1440x720")  # its own price: ¥0.08
    square = record(
        alice, model="cogview-4", images=1, size="1024x1024"
    )  # the any-size price: ¥0.06
    settle_all()
    assert ledger(wide) == [("voucher", -70_000_000, 0), ("cash", -10_000_000, 0)]
    assert ledger(square) == [("cash", -60_000_000, 0)]
    assert Pack.objects.get(name="tokens").remaining == 10**6


def test_admission_asks_the_same_rule_a_token_pack_cannot_carry_an_image(alice):
    """The hole this closes: a prepaid check that let an image through on a token pack that
    settlement then would not use."""
    team = alice.personal_team
    Team.objects.filter(id=team.id).update(billing="prepaid")
    now = timezone.now()
    pack_add(
        team=team, name="tokens", size=10**6, expires_at=now + timedelta(days=1)
    )  # every model
    owner = owner_of(team)
    with pytest.raises(SpendRefused, match="cannot cover this call"):
        hold_place(
            membership=owner, request_id="image-1", call=WorstCase(model="cogview-3", images=1)
        )
    held = hold_place(
        membership=owner,
        request_id="chat-1",
        call=WorstCase(model="glm-4", prompt_tokens=10, completion_tokens=100),
    )
    assert held.amount_nano == 110 * 100_000  # the pack holds it: admitted, and the worst case held
    pack_add(
        team=team,
        name="voucher",
        size=10**8,
        unit=Pack.Unit.MONEY,
        expires_at=now + timedelta(days=1),
    )
    assert hold_place(
        membership=owner, request_id="image-2", call=WorstCase(model="cogview-3", images=1)
    )
