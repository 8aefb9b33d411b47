"""Alerts: fire once per crossing, recover on top-up, every channel's own format, one send when
workers race, failures retried and recorded."""

import threading
import time

import pytest
from django.core import mail
from django.db import close_old_connections

from accounts.models import AlertChannel, AlertRule, AlertSend, Hold, Membership
from accounts.services import alerts, settlement
from accounts.services.teams import member_add, member_set_cap
from accounts.services.wallet import wallet_topup
from tests.accounts.conftest import Receiver, record
from tests.support import owner_of, start_worker, stop_worker


def deliver_pending():
    for send_id in (
        AlertSend.objects.filter(status="pending").order_by("id").values_list("id", flat=True)
    ):
        try:
            alerts.alert_deliver(send_id=send_id)
        except alerts.DeliveryFailed:
            pass


def test_a_threshold_fires_once_per_crossing_and_recovers_on_top_up(prices, alice):
    team = alice.personal_team
    AlertChannel.objects.create(team=team, kind="email", target="ops@example.com")
    AlertRule.objects.create(team=team, threshold_nano=5 * 10**9)  # ¥5
    wallet_topup(team=team, amount_nano=6 * 10**9)
    assert AlertSend.objects.count() == 0
    for _ in range(3):  # ¥0.60 each: 6.00 → 5.40 → 4.80 (fires) → 4.20 (already fired)
        record(alice, prompt=6000)
        settlement.usage_settle_pending()
    deliver_pending()
    assert [m.subject for m in mail.outbox] == [f"{team.name}: balance below ¥5.0000"]
    assert (
        "¥4.80" in mail.outbox[0].body and "lasts about" in mail.outbox[0].body
    )  # the days-left forecast
    wallet_topup(team=team, amount_nano=10**9)  # ¥5.20: above again → recovered, re-armed
    deliver_pending()
    assert mail.outbox[-1].subject == f"{team.name}: balance back above ¥5.0000"
    record(alice, prompt=6000)
    settlement.usage_settle_pending()  # ¥4.60: a second crossing fires again
    deliver_pending()
    assert [send.event for send in AlertSend.objects.order_by("id")] == [
        "balance_low",
        "balance_recovered",
        "balance_low",
    ]
    assert AlertRule.objects.get().crossings == 2


@pytest.mark.parametrize(
    "kind, shape",
    [
        (
            "webhook",
            lambda body: body["event"] == "test" and body["text"].startswith("This is a test"),
        ),
        (
            "feishu",
            lambda body: body["msg_type"] == "text" and "test alert" in body["content"]["text"],
        ),
        (
            "dingtalk",
            lambda body: body["msgtype"] == "text" and "test alert" in body["text"]["content"],
        ),
        (
            "wecom",
            lambda body: body["msgtype"] == "text" and "test alert" in body["text"]["content"],
        ),
        ("slack", lambda body: body["text"].startswith("*") and "test alert" in body["text"]),
    ],
)
def test_each_webhook_gets_its_own_format(db, alice, receiver, kind, shape):
    channel = AlertChannel.objects.create(
        team=alice.personal_team, kind=kind, target=receiver.url(f"/{kind}")
    )
    send = alerts.alert_test(channel=channel)
    assert alerts.alert_deliver(send_id=send.id)
    [(path, body)] = receiver.received
    assert path == f"/{kind}" and shape(body)
    send.refresh_from_db()
    assert send.status == "sent" and send.attempts == 1


def test_a_refusing_webhook_is_recorded_and_left_for_a_retry(db, alice):
    refusing = Receiver(reply=(200, {"code": 19001, "msg": "bad signature"}))
    try:
        channel = AlertChannel.objects.create(
            team=alice.personal_team, kind="feishu", target=refusing.url("/")
        )
        send = alerts.alert_test(channel=channel)
        with pytest.raises(alerts.DeliveryFailed):
            alerts.alert_deliver(send_id=send.id)
        send.refresh_from_db()
        assert (send.status, send.attempts, send.last_error) == (
            "pending",
            1,
            "the webhook refused it: bad signature",
        )
        alerts.alert_give_up(send_id=send.id)
        send.refresh_from_db()
        assert send.status == "failed"
    finally:
        refusing.close()


def test_a_jump_past_80_and_100_percent_of_the_cap_is_one_message_with_the_real_figure(
    prices, alice, bob, receiver
):
    team = alice.personal_team
    AlertChannel.objects.create(team=team, kind="webhook", target=receiver.url("/"))
    member_set_cap(
        membership=member_add(team=team, user=bob, by=owner_of(team)),
        cap_nano=10**8,
        by=owner_of(team),
    )  # ¥0.10
    for tokens in (
        250,
        250,
        250,
        450,
        250,
    ):  # ¥0.025, …: 25%, 50%, 75%, then 120% at once, then 145%
        record(bob, team, prompt=tokens)
        settlement.usage_settle_pending()
    deliver_pending()
    assert [body["event"] for _, body in receiver.received] == ["cap_100"]
    body = receiver.received[0][1]
    assert body["subject"] == f"{team.name}: bob at 120% of their monthly cap"
    assert (
        "has spent ¥0.1200 this month" in body["text"]
        and "120% of their cap of ¥0.1000" in body["text"]
    )
    assert Membership.objects.get(team=team, user=bob).monthly_cap_nano == 10**8


def test_two_workers_racing_an_alert_send_it_once(
    prices, alice, receiver, transactional_db, redis_server, upstream
):
    """Two threads raise the same crossing at once; two real worker processes deliver the same
    send."""
    team = alice.personal_team
    AlertChannel.objects.create(team=team, kind="webhook", target=receiver.url("/"))
    AlertRule.objects.create(team=team, threshold_nano=10**9)
    team.cash_nano = 5 * 10**8  # below ¥1, not yet alerted
    team.save()
    start = threading.Barrier(2)

    def raise_it():
        start.wait()
        try:
            alerts.balance_alerts(team=type(team).objects.get(id=team.id))
        finally:
            close_old_connections()

    threads = [threading.Thread(target=raise_it) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [send] = AlertSend.objects.all()

    from django.db import connection

    from tests.support import database_url_for_tests

    env = {
        "REDIS_URL": redis_server.url,
        "DATABASE_URL": database_url_for_tests(connection.settings_dict),
        "SECRET_KEY": "test-secret-key",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    workers = [start_worker(env, extra_args=("-n", f"racer{i}@%h")) for i in range(2)]
    try:
        from accounts.tasks import alert_deliver_task

        for _ in range(4):
            alert_deliver_task.delay(send.id)
        deadline = time.monotonic() + 30
        while AlertSend.objects.get(id=send.id).status != "sent" and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)  # the other deliveries have had their chance
    finally:
        for worker in workers:
            stop_worker(worker)
    assert len(receiver.received) == 1
    assert AlertSend.objects.get(id=send.id).attempts == 1


def test_a_key_at_80_and_100_percent_of_its_budget_is_told_once_per_period(prices, alice):
    import time_machine

    from accounts.services.keys import key_create
    from tests.accounts.conftest import at

    team = alice.personal_team
    AlertChannel.objects.create(team=team, kind="email", target="ops@example.com")
    key, _ = key_create(
        user=alice, team=team, name="nightly", budget_nano=1_400_000_000, budget_period="day"
    )

    def spend(times: int) -> None:  # ¥0.60 a call (glm-4, 6,000 tokens in)
        for _ in range(times):
            record(alice, prompt=6000, api_key=key)
            settlement.usage_settle_pending()

    with time_machine.travel(at("2026-12-01 10:00"), tick=False):
        in_flight = Hold.objects.create(
            request_id="flying", team=team, user=alice, model="glm-4", source="api",
            api_key=key, amount_nano=10**9, expires_at=at("2026-12-01 11:00"),
        )  # fmt: skip
        spend(1)  # ¥0.60, 42%: a call in flight is not spent yet (it may make nothing)
        assert not AlertSend.objects.exists()
        in_flight.delete()
        spend(1)  # ¥1.20, 85%
        spend(2)  # ¥1.80 (128%: past 100%), then ¥2.40 (still past it)
        record(alice, prompt=6000)  # the playground's spend is not the key's
        settlement.usage_settle_pending()
    with time_machine.travel(at("2026-12-02 09:00"), tick=False):
        spend(2)  # a new day: ¥1.20 of it, 85% again
    deliver_pending()
    assert [send.event for send in AlertSend.objects.order_by("id")] == [
        "key_budget_80",
        "key_budget_100",
        "key_budget_80",
    ]
    assert mail.outbox[1].subject == f"{team.name}: API key nightly at 128% of its budget"
    assert "resets 2026-12-02 00:00" in mail.outbox[1].body and "refused" in mail.outbox[1].body
