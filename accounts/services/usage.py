"""Usage in the request path: one record per upstream call, and what a member has spent."""

import logging
from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts import queue
from accounts.models import DailyUsage, Hold, Team, UsageRecord
from accounts.services.pricing import PriceBook
from bigmodel.usage import Arrived, Asked, CallUsage, chat_call_usage

log = logging.getLogger("accounts")


@transaction.atomic
def usage_record(*, request_id: str, used: CallUsage) -> UsageRecord | None:
    """Record one upstream call in place of its hold, and have it settled after commit. Who pays,
    through which path and key, for what model (and what image) is read from the hold: the call's
    one record until now. Idempotent on request_id: a second call returns the first record. If the
    queue is down the record waits for the sweeper."""
    hold = Hold.objects.filter(request_id=request_id).first()
    return _recorded_already(request_id) if hold is None else _in_place_of(hold, used)


@transaction.atomic
def chat_usage_record(*, request_id: str, arrived: Arrived) -> UsageRecord | None:
    """A chat call's record, by the one rule every path follows: the upstream's usage, else one
    estimate from what the call asked (kept on its hold) and what arrived."""
    hold = Hold.objects.filter(request_id=request_id).first()
    if hold is None:
        return _recorded_already(request_id)
    return _in_place_of(hold, chat_call_usage(Asked.kept(hold.asked), arrived))


def _recorded_already(request_id: str) -> UsageRecord | None:
    """The call's record, written before; None (and an error in the log) for a call with neither
    a hold nor a record: nothing says who would pay."""
    found = UsageRecord.objects.filter(request_id=request_id).first()
    if found is None:
        log.error("call %s has no hold to record its usage against", request_id)
    return found


def _in_place_of(hold: Hold, used: CallUsage) -> UsageRecord:
    record, created = UsageRecord.objects.get_or_create(
        request_id=hold.request_id,
        defaults={
            "user_id": hold.user_id,
            "team_id": hold.team_id,
            "model": hold.model,
            "source": hold.source,
            "api_key_id": hold.api_key_id,
            "size": hold.size,
            "quality": hold.quality,
            **used.record_fields(),
            "held_nano": hold.amount_nano,
            "held_prompt_tokens": hold.prompt_tokens,
            "held_completion_tokens": hold.completion_tokens,
        },
    )
    hold.delete()
    if created:
        transaction.on_commit(queue.settlement)
    return record


def _month_start(moment: datetime) -> datetime:
    local = timezone.localtime(moment)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def member_month_spend(
    *, team: Team, user: User, now: datetime | None = None, with_holds: bool = False
) -> int:
    """What this member has spent this calendar month in ``team``: settled, plus unsettled at the
    prices in force when each call was made; ``with_holds`` adds the worst case of their calls in
    flight (what admission counts; alerts count only what was spent)."""
    now = now or timezone.now()
    start = _month_start(now)
    # Each call counted in the state it is in, read in the order calls move through them (held,
    # recorded, settled), so one that moves on between two reads is counted twice, never missed.
    held = (
        sum(Hold.objects.filter(team=team, user=user).values_list("amount_nano", flat=True))
        if with_holds
        else 0
    )
    pending = unsettled_cost(
        UsageRecord.objects.filter(team=team, user=user, created_at__gte=start)
    )
    settled = sum(
        DailyUsage.objects.filter(team=team, user=user, day__gte=start.date()).values_list(
            "cost_nano", flat=True
        )
    )
    return held + pending + settled


def unsettled_cost(records: QuerySet[UsageRecord]) -> int:
    """What the unsettled ones of ``records`` cost, at the prices in force when each call was
    made (the worker has not priced them yet)."""
    return sum(cost for _, cost in unsettled_charges(records))


def unsettled_charges(records: QuerySet[UsageRecord]) -> list[tuple[UsageRecord, int]]:
    """Each unsettled one of ``records`` with what it costs, as :func:`unsettled_cost` counts."""
    pending = list(records.filter(status=UsageRecord.Status.UNSETTLED).order_by())
    book = PriceBook()
    return [(record, book.charge(record).cost_nano) for record in pending]
