"""Usage in the request path: one record per upstream call, and what a member has spent."""

import logging
from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from accounts import queue
from accounts.models import DailyUsage, Hold, Team, UsageRecord
from accounts.services.pricing import PriceBook

log = logging.getLogger("accounts")


@transaction.atomic
def usage_record(
    *,
    request_id: str,
    user_id: int,
    team_id: int,
    model: str,
    prompt_tokens: int = 0,
    cached_tokens: int = 0,
    completion_tokens: int = 0,
    reasoning_tokens: int = 0,
    images: int = 0,
    size: str = "",
    quality: str = "",
    search_engine: str = "",
    searches: int = 0,
    exact: bool = True,
    source: str = UsageRecord.Source.PLAYGROUND,
    api_key_id: int | None = None,
) -> UsageRecord:
    """Record one upstream call, in place of its hold, and have it settled after commit. Takes ids:
    the caller records from what it holds itself, whatever became of its rows meanwhile. Idempotent
    on request_id: a second call returns the first record. If the queue is down the record waits for
    the sweeper."""
    try:
        hold: Hold | None = Hold.objects.get(request_id=request_id)
    except Hold.DoesNotExist:
        hold = None
    record, created = UsageRecord.objects.get_or_create(
        request_id=request_id,
        defaults={
            "user_id": user_id,
            "team_id": team_id,
            "model": model,
            "source": source,
            "api_key_id": api_key_id,
            "prompt_tokens": prompt_tokens,
            "cached_tokens": cached_tokens,
            "completion_tokens": completion_tokens,
            "reasoning_tokens": reasoning_tokens,
            "images": images,
            "size": size,
            "quality": quality,
            "search_engine": search_engine,
            "searches": searches,
            "exact": exact,
            "held_nano": hold.amount_nano if hold else None,
            "held_prompt_tokens": hold.prompt_tokens if hold else None,
            "held_completion_tokens": hold.completion_tokens if hold else None,
        },
    )
    if hold is not None:
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


def unsettled_cost(records) -> int:
    """What the unsettled ones of ``records`` cost, at the prices in force when each call was
    made (the worker has not priced them yet)."""
    return sum(cost for _, cost in unsettled_charges(records))


def unsettled_charges(records) -> list[tuple[UsageRecord, int]]:
    """Each unsettled one of ``records`` with what it costs, as :func:`unsettled_cost` counts."""
    pending = list(records.filter(status=UsageRecord.Status.UNSETTLED).order_by())
    book = PriceBook()
    return [(record, book.charge(record).cost_nano) for record in pending]
