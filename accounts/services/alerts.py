"""Alerts: balance thresholds that fire once per crossing and say when they recover, packs about to
expire unused, members nearing their cap. Sends are rows first (unique per channel and event),
claimed once, then delivered by the worker."""

import logging
import uuid
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from accounts import money, queue
from accounts.models import (
    AlertChannel,
    AlertRule,
    AlertSend,
    ApiKey,
    DailyUsage,
    Membership,
    Pack,
    Team,
    UsageRecord,
)
from accounts.services.keys import keys_period_spend
from accounts.services.usage import member_month_spend
from accounts.webhooks import WebhookFailed, WebhookRefused, webhook_post

log = logging.getLogger("accounts")

CAP_STEPS = (80, 100)
BURN_DAYS = 7


# --------------------------------------------------------------------------- forecasting


def burn_per_day(*, team: Team, today: date | None = None) -> int:
    """Average spend per day over the last 7 days (nano)."""
    today = today or timezone.localdate()
    spent = (
        DailyUsage.objects.filter(
            team=team, day__gt=today - timedelta(days=BURN_DAYS), day__lte=today
        ).aggregate(total=Sum("cost_nano"))["total"]
        or 0
    )
    return spent // BURN_DAYS


def days_left(*, team: Team, today: date | None = None) -> int | None:
    """Whole days the cash lasts at the last week's burn rate; None when nothing is being spent."""
    burn = burn_per_day(team=team, today=today)
    if burn <= 0:
        return None
    return max(team.cash_nano, 0) // burn


# --------------------------------------------------------------------------- rules and channels


def alert_rule_add(*, team: Team, threshold_nano: int) -> AlertRule:
    """A balance threshold (once per amount); it fires at once if the balance is already below."""
    rule, _ = AlertRule.objects.get_or_create(team=team, threshold_nano=threshold_nano)
    balance_alerts(team=team)
    return rule


def alert_rule_remove(*, rule: AlertRule) -> None:
    rule.delete()


def alert_channel_add(*, team: Team, kind: str, label: str, target: str) -> AlertChannel:
    """A channel to send to; its address was checked by the form (webhooks again on every send)."""
    return AlertChannel.objects.create(team=team, kind=kind, label=label, target=target)


def alert_channel_remove(*, channel: AlertChannel) -> None:
    """The channel and its history go."""
    channel.delete()


# --------------------------------------------------------------------------- raising


def _raise(
    team: Team,
    *,
    key: str,
    event: str,
    subject: str,
    text: str,
    channels: Iterable[AlertChannel] | None = None,
) -> list[int]:
    """One pending send per enabled channel (or per one of ``channels``); an event already raised on
    a channel is skipped."""
    created = []
    for channel in (
        channels if channels is not None else AlertChannel.objects.filter(team=team, enabled=True)
    ):
        try:
            with transaction.atomic():
                send = AlertSend.objects.create(
                    team=team, channel=channel, key=key, event=event, subject=subject, text=text
                )
        except IntegrityError:
            continue  # raised already (another worker, or an earlier run): never twice
        created.append(send.id)
    if created:
        transaction.on_commit(lambda: queue.alert_deliveries(created))
    return created


def _forecast(team: Team) -> str:
    left = days_left(team=team)
    return (
        ""
        if left is None
        else f" At the last {BURN_DAYS} days' rate it lasts about {left} more day(s)."
    )


def balance_alerts(*, team: Team) -> None:
    """Fire rules the balance has fallen below; re-arm (and say so) those it is back above."""
    for rule in AlertRule.objects.filter(team=team):
        below = team.cash_nano < rule.threshold_nano
        if below and rule.armed:
            if not AlertRule.objects.filter(id=rule.id, armed=True).update(
                armed=False, crossings=F("crossings") + 1
            ):
                continue  # another worker fired it
            crossing = rule.crossings + 1
            _raise(
                team,
                key=f"balance:{rule.id}:{crossing}:fired",
                event="balance_low",
                subject=f"{team.name}: balance below {money.yuan(rule.threshold_nano)}",
                text=f"The cash balance of {team.name} is {money.yuan(team.cash_nano)}, below the "
                f"alert threshold of {money.yuan(rule.threshold_nano)}.{_forecast(team)}",
            )
        elif not below and not rule.armed:
            if not AlertRule.objects.filter(id=rule.id, armed=False).update(armed=True):
                continue
            _raise(
                team,
                key=f"balance:{rule.id}:{rule.crossings}:recovered",
                event="balance_recovered",
                subject=f"{team.name}: balance back above {money.yuan(rule.threshold_nano)}",
                text=f"The cash balance of {team.name} is {money.yuan(team.cash_nano)} again, "
                "above "
                f"{money.yuan(rule.threshold_nano)}. The alert is armed again.",
            )


def cap_alerts(*, team: Team, user_ids: Iterable[int], now: datetime | None = None) -> None:
    now = now or timezone.now()
    month = timezone.localtime(now).strftime("%Y-%m")
    capped = (
        Membership.objects.filter(team=team, user_id__in=user_ids)
        .exclude(monthly_cap_nano=None)
        .select_related("user")
    )
    for membership in capped:
        cap = membership.monthly_cap_nano
        assert cap is not None  # members without a cap are excluded above
        spent = member_month_spend(team=team, user=membership.user, now=now)
        reached = [step for step in CAP_STEPS if cap and spent * 100 >= cap * step]
        if not reached:
            continue
        # One notice for the highest step reached: a settlement that passes 80% and 100% at once
        # sends one message, and the 80% one is never sent after it.
        step, name, percent = reached[-1], membership.user.get_username(), spent * 100 // cap
        _raise(
            team,
            key=f"cap:{membership.id}:{month}:{step}",
            event=f"cap_{step}",
            subject=f"{team.name}: {name} at {percent}% of their monthly cap",
            text=f"{name} has spent {money.yuan(spent)} this month in {team.name}, {percent}% of "
            "their cap of "
            f"{money.yuan(cap)}."
            + (
                " Further calls are refused until the cap is raised or the month ends."
                if step == 100
                else ""
            ),
        )


def key_budget_alerts(*, key_ids: Iterable[int], now: datetime | None = None) -> None:
    """A key at 80% and at 100% of its budget: one notice per step per budget period (only the
    highest step reached, as for a member's cap)."""
    keys = list(
        ApiKey.objects.filter(id__in=key_ids)
        .exclude(budget_nano=None)
        .select_related("team", "user")
    )
    spend = keys_period_spend(keys, now=now, with_holds=False)
    for key in keys:
        budget = key.budget_nano
        assert budget is not None  # keys without a budget are excluded above
        spent = spend[key.id]
        reached = [step for step in CAP_STEPS if spent * 100 >= budget * step]
        if not reached:
            continue
        step, percent = reached[-1], spent * 100 // budget
        period = timezone.localtime(key.period_start(now))
        resets = timezone.localtime(key.next_reset(now))
        _raise(
            key.team,
            key=f"apikey:{key.id}:{period:%Y-%m-%d}:{step}",
            event=f"key_budget_{step}",
            subject=f"{key.team.name}: API key {key.name} at {percent}% of its budget",
            text=f"The API key {key.name} ({key.masked}) of {key.user.get_username()} has spent "
            f"{money.yuan(spent)} this {key.budget_period}, {percent}% of its budget of "
            f"{money.yuan(budget)}; it resets {resets:%Y-%m-%d %H:%M}."
            + (" Calls with it that would pass the budget are refused." if step == 100 else ""),
        )


def alerts_after_settlement(*, teams: list[Team], records: Iterable[UsageRecord]) -> None:
    users: dict[int, set[int]] = {}
    keys: set[int] = set()
    for record in records:
        users.setdefault(record.team_id, set()).add(record.user_id)
        if record.api_key_id is not None:
            keys.add(record.api_key_id)
    for team in teams:
        balance_alerts(team=team)
        cap_alerts(team=team, user_ids=users.get(team.id, ()))
    key_budget_alerts(key_ids=keys)


def pack_expiry_alerts(*, now: datetime | None = None) -> int:
    """Packs expiring within PACK_EXPIRY_ALERT_DAYS with something left: one notice per pack."""
    now = now or timezone.now()
    soon = Pack.objects.filter(
        expired=False,
        remaining__gt=0,
        expires_at__gt=now,
        expires_at__lte=now + timedelta(days=settings.PACK_EXPIRY_ALERT_DAYS),
    )
    raised = 0
    for pack in soon.select_related("team"):
        left = (
            f"{pack.remaining:,} tokens"
            if pack.unit == Pack.Unit.TOKENS
            else f"{money.yuan(pack.remaining)}"
        )
        raised += len(
            _raise(
                pack.team,
                key=f"pack:{pack.id}:expiring",
                event="pack_expiring",
                subject=f"{pack.team.name}: pack “{pack.name}” expires soon",
                text=f"The pack “{pack.name}” expires "
                f"{timezone.localtime(pack.expires_at):%Y-%m-%d %H:%M} "
                f"with {left} unused.",
            )
        )
    return raised


def alert_test(*, channel: AlertChannel) -> AlertSend:
    key = f"test:{uuid.uuid4().hex}"
    _raise(
        channel.team,
        key=key,
        event="test",
        subject=f"{channel.team.name}: test alert",
        text="This is a test from GLM Console: alerts for this team reach this channel.",
        channels=[channel],
    )
    return AlertSend.objects.get(channel=channel, key=key)


# --------------------------------------------------------------------------- delivering


class DeliveryFailed(Exception):
    pass


def webhook_payload(kind: str, send: AlertSend) -> dict:
    """The message in each service's own format."""
    text = f"{send.subject}\n{send.text}"
    if kind == AlertChannel.Kind.FEISHU:
        return {"msg_type": "text", "content": {"text": text}}
    if kind in (AlertChannel.Kind.DINGTALK, AlertChannel.Kind.WECOM):
        return {"msgtype": "text", "text": {"content": text}}
    if kind == AlertChannel.Kind.SLACK:
        return {"text": f"*{send.subject}*\n{send.text}"}
    return {
        "event": send.event,
        "team": send.team.name,
        "subject": send.subject,
        "text": send.text,
        "key": send.key,
        "created_at": send.created_at.isoformat(),
    }


def _post(url: str, payload: dict) -> None:
    try:
        response = webhook_post(url, payload)
    except (WebhookRefused, WebhookFailed) as problem:
        raise DeliveryFailed(str(problem)) from None
    try:
        body = response.json()
    except ValueError:
        return
    # Feishu answers 200 with {"code": …}; DingTalk and WeCom with {"errcode": …}: 0 is success.
    code = body.get("code", body.get("errcode", 0)) if isinstance(body, dict) else 0
    if code not in (0, "0", None):
        raise DeliveryFailed(
            f"the webhook refused it: {body.get('msg') or body.get('errmsg') or code}"[:200]
        )


def alert_deliver(*, send_id: int) -> bool:
    """Claim the send (pending → sending, once) and deliver it. True when it was sent now; raises
    DeliveryFailed (the send is pending again, for a retry) when the channel failed."""
    if not AlertSend.objects.filter(id=send_id, status=AlertSend.Status.PENDING).update(
        status=AlertSend.Status.SENDING, attempts=F("attempts") + 1
    ):
        return False
    send = AlertSend.objects.select_related("channel", "team").get(id=send_id)
    try:
        if send.channel.kind == AlertChannel.Kind.EMAIL:
            send_mail(send.subject, send.text, settings.DEFAULT_FROM_EMAIL, [send.channel.target])
        else:
            _post(send.channel.target, webhook_payload(send.channel.kind, send))
    except Exception as error:
        if isinstance(error, DeliveryFailed):
            reason = str(error)
        else:  # the details are for the server log, not the page
            log.exception("alert %s could not be sent", send_id)
            reason = (
                "could not send the email"
                if send.channel.kind == AlertChannel.Kind.EMAIL
                else "sending failed"
            )
        AlertSend.objects.filter(id=send_id).update(
            status=AlertSend.Status.PENDING, last_error=reason[:500]
        )
        raise DeliveryFailed(reason) from error
    AlertSend.objects.filter(id=send_id).update(
        status=AlertSend.Status.SENT, sent_at=timezone.now(), last_error=""
    )
    return True


def alert_give_up(*, send_id: int) -> None:
    AlertSend.objects.filter(id=send_id, status=AlertSend.Status.PENDING).update(
        status=AlertSend.Status.FAILED
    )
