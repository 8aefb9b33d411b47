"""Usage in the request path: one record per upstream call, and whether a call may be made."""

import logging

from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError

from accounts import money
from accounts.models import DailyUsage, Membership, Pack, Team, UsageRecord
from accounts.services.pricing import PriceBook, price_in_force
from config.redis import redis_client

log = logging.getLogger("accounts")


def usage_record(*, request_id: str, user, team: Team, model: str, prompt_tokens: int = 0,
                 completion_tokens: int = 0, images: int = 0, size: str = "", exact: bool = True,
                 source: str = UsageRecord.Source.PLAYGROUND) -> UsageRecord:
    """Record one upstream call and have it settled after commit. Idempotent on request_id: a second
    call returns the first record. If the queue is down the record waits for the sweeper."""
    record, created = UsageRecord.objects.get_or_create(
        request_id=request_id,
        defaults={"user": user, "team": team, "model": model, "source": source, "prompt_tokens": prompt_tokens,
                  "completion_tokens": completion_tokens, "images": images, "size": size, "exact": exact},
    )
    if created:
        transaction.on_commit(_enqueue_settlement)
    return record


SETTLE_PENDING_KEY = "settle:pending"
SETTLE_PENDING_SECONDS = 30


def _enqueue_settlement() -> None:
    """Ask for a settlement run unless one is already asked for: a run settles everything waiting,
    so a thousand calls a second need a few runs, not a thousand. The run clears the flag as it
    starts, so a record committed after that asks for the next run."""
    from accounts.tasks import settle_usage  # tasks import services; keep the cycle at run time

    try:
        if redis_client().set(SETTLE_PENDING_KEY, "1", nx=True, ex=SETTLE_PENDING_SECONDS):
            settle_usage.delay()
    except Exception as error:  # a dead Redis or broker must not fail the request: the sweeper settles it
        log.warning("usage left for the sweeper: %s", type(error).__name__)


def settlement_started() -> None:
    try:
        redis_client().delete(SETTLE_PENDING_KEY)
    except RedisError:
        pass


def _month_start(moment):
    local = timezone.localtime(moment)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def member_month_spend(*, team: Team, user, now=None) -> int:
    """What this member has spent this calendar month (settled, plus unsettled at today's prices)."""
    now = now or timezone.now()
    start = _month_start(now)
    settled = sum(DailyUsage.objects.filter(team=team, user=user, day__gte=start.date()).values_list(
        "cost_nano", flat=True))
    pending = list(UsageRecord.objects.filter(team=team, user=user, status=UsageRecord.Status.UNSETTLED,
                                              created_at__gte=start).order_by())
    book = PriceBook({record.model for record in pending})
    return settled + sum(book.charge(record).cost_nano for record in pending)


def spend_problem(*, membership: Membership, model: str, now=None) -> str:
    """Why this member may not make a call to ``model`` billed to their team, in their words; ""
    when they may."""
    now = now or timezone.now()
    team = membership.team
    if membership.monthly_cap_nano is not None:
        spent = member_month_spend(team=team, user=membership.user, now=now)
        if spent >= membership.monthly_cap_nano:
            return (f"You have reached your monthly spending cap in {team.name} "
                    f"({money.yuan(spent)} of {money.yuan(membership.monthly_cap_nano)}); "
                    f"a team admin can raise it.")
    if team.billing == Team.Billing.PREPAID and not _prepaid_can_pay(team, model, now):
        return (f"{team.name} has no balance left for {model} (cash {money.yuan(team.cash_nano)}, "
                f"no pack covers it). Top up to continue.")
    return ""


def _prepaid_can_pay(team: Team, model: str, now) -> bool:
    cash = Team.objects.values_list("cash_nano", flat=True).get(id=team.id)
    if cash > 0:
        return True
    packs = Pack.objects.filter(team=team, expired=False, remaining__gt=0, effective_at__lte=now, expires_at__gt=now)
    if any(pack.covers(model) for pack in packs):
        return True
    price = price_in_force(model=model, moment=now)
    return price is not None and not (price.input_nano or price.output_nano or price.image_nano)  # free models
