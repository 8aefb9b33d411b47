"""The edges, worked by hand: a balance exactly at a threshold, a member exactly at 80% and 100% of
the cap, and how many days the cash lasts."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import AlertChannel, AlertSend
from accounts.services import settlement
from accounts.services.alerts import days_left
from accounts.services.teams import member_add, member_set_cap
from accounts.services.wallet import wallet_topup
from tests.accounts.conftest import record
from tests.support import owner_of

pytestmark = pytest.mark.usefixtures("prices")

GLM_4 = 100_000  # nano-yuan per token


def settle_all():
    while settlement.usage_settle_pending():
        pass


def events() -> list[str]:
    return list(AlertSend.objects.order_by("id").values_list("event", flat=True))


def test_a_balance_exactly_at_a_threshold_is_not_below_it(alice):
    team = alice.personal_team
    AlertChannel.objects.create(team=team, kind="email", target="ops@example.com")
    from accounts.models import AlertRule

    AlertRule.objects.create(team=team, threshold_nano=10**9)  # ¥1
    wallet_topup(team=team, amount_nano=10**9 + GLM_4)  # ¥1.0001
    record(alice, prompt=1)  # ¥0.0001: exactly ¥1 left
    settle_all()
    team.refresh_from_db()
    assert team.cash_nano == 10**9 and events() == []
    record(alice, prompt=1)  # one token more: below
    settle_all()
    assert events() == ["balance_low"]


def test_a_member_is_told_exactly_at_80_and_exactly_at_100_percent(alice, bob):
    team = alice.personal_team
    AlertChannel.objects.create(team=team, kind="email", target="ops@example.com")
    membership = member_add(team=team, user=bob, by=owner_of(team))
    member_set_cap(membership=membership, cap_nano=1_000 * GLM_4, by=owner_of(team))  # ¥0.10
    record(bob, team, prompt=799)  # 79.9%
    settle_all()
    assert events() == []
    record(bob, team, prompt=1)  # exactly 80%
    settle_all()
    assert events() == ["cap_80"]
    record(bob, team, prompt=199)  # 99.9%
    settle_all()
    assert events() == ["cap_80"]
    record(bob, team, prompt=1)  # exactly 100%
    settle_all()
    assert events() == ["cap_80", "cap_100"]
    assert "100% of their cap" in AlertSend.objects.get(event="cap_100").text


def test_days_left_is_the_cash_over_the_last_weeks_daily_spend(alice):
    team = alice.personal_team
    wallet_topup(team=team, amount_nano=3_200_000_000)  # ¥3.20
    now = timezone.now()
    for days_ago, tokens in (
        (0, 1_000),
        (2, 2_000),
        (6, 4_000),
        (7, 9_000),
    ):  # 7 days ago is outside the week
        record(alice, prompt=tokens, when=now - timedelta(days=days_ago))
    settle_all()
    team.refresh_from_db()
    # cash: ¥3.20 − ¥0.10 − ¥0.20 − ¥0.40 − ¥0.90 = ¥1.60; the week spent ¥0.70, ¥0.10 a day: 16
    # days
    assert team.cash_nano == 1_600_000_000
    assert days_left(team=team) == 16
    client = Client()
    client.force_login(alice)
    assert (
        "About 16 days left at the last 7 days' rate" in client.get("/accounts/").content.decode()
    )
