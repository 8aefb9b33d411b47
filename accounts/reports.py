"""The figures the money pages show, read from the daily rollups (fast at any size) and, for what is
not settled yet or for one record at a time, from the usage records."""

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, TypedDict

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from accounts.models import ApiKey, DailyUsage, Hold, Membership, Pack, Team, UsageRecord
from accounts.services.alerts import days_left
from accounts.services.holds import team_standing
from accounts.services.pricing import PriceBook

SUMS = DailyUsage.SUMS


@dataclass(frozen=True)
class Period:
    """Whole local days, start and end included."""

    start: date
    end: date

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def bounds(self) -> tuple[datetime, datetime]:
        """[start, end) as aware datetimes in the app's time zone."""
        return (
            timezone.make_aware(datetime.combine(self.start, time.min)),
            timezone.make_aware(datetime.combine(self.end + timedelta(days=1), time.min)),
        )

    @classmethod
    def last_days(cls, days: int, today: date | None = None) -> "Period":
        today = today or timezone.localdate()
        return cls(today - timedelta(days=days - 1), today)

    @classmethod
    def month(cls, year: int, month: int) -> "Period":
        first = date(year, month, 1)
        following = date(year + month // 12, month % 12 + 1, 1)
        return cls(first, following - timedelta(days=1))


@dataclass
class Filters:
    period: Period
    user_id: int | None = None  # None: everyone the viewer may see
    model: str = ""
    source: str = ""  # "playground", "api", an API key's id as text; "": all


PLAYGROUND, API = "playground", "api"


def visible_user_id(membership: Membership, wanted: int | None) -> int | None:
    """Managers see anyone (or everyone); members only themselves."""
    return wanted if membership.manages else membership.user_id


def rollups(team: Team, filters: Filters) -> QuerySet[DailyUsage]:
    rows = DailyUsage.objects.filter(
        team=team, day__gte=filters.period.start, day__lte=filters.period.end
    )
    return narrowed(rows, filters)


def narrowed[R: (DailyUsage, UsageRecord)](rows: QuerySet[R], filters: Filters) -> QuerySet[R]:
    """Rollups or usage records (both have user, model and api_key) of the filters' member, model
    and source; the period is each caller's, by day or by moment."""
    if filters.user_id is not None:
        rows = rows.filter(user_id=filters.user_id)
    if filters.model:
        rows = rows.filter(model=filters.model)
    if filters.source == PLAYGROUND:
        rows = rows.filter(api_key=None)
    elif filters.source == API:
        rows = rows.exclude(api_key=None)
    elif filters.source.isdigit():
        rows = rows.filter(api_key_id=int(filters.source))
    return rows


def _masked(row: Mapping[str, Any]) -> str:
    return ApiKey.mask(row["api_key__key_id"], row["api_key__last4"])


def by_source(rows: QuerySet[DailyUsage]) -> list[dict]:
    """The playground's row, then each API key's (biggest first), with what each spent."""
    found = rows.values(
        "api_key_id", "api_key__name", "api_key__key_id", "api_key__last4"
    ).annotate(**{name: Sum(name) for name in SUMS})
    playground: list[dict[str, Any]] = [
        row | {"label": "Playground"} for row in found if row["api_key_id"] is None
    ]
    keys: list[dict[str, Any]] = [
        row | {"label": f"API · {row['api_key__name']} ({_masked(row)})"}
        for row in found
        if row["api_key_id"] is not None
    ]
    return playground + sorted(keys, key=lambda row: (-row["cost_nano"], row["label"]))


def totals(rows: QuerySet[DailyUsage]) -> dict:
    found = rows.aggregate(**{name: Sum(name) for name in SUMS})
    return {name: found[name] or 0 for name in SUMS}


def by_day_and_model(
    rows: QuerySet[DailyUsage], period: Period
) -> tuple[list[date], list[str], dict]:
    """Days, models (biggest first), and cost per (day, model)."""
    cost: defaultdict[tuple[date, str], int] = defaultdict(int)
    per_model: defaultdict[str, int] = defaultdict(int)
    for day, model, nano in (
        rows.values("day", "model")
        .annotate(total=Sum("cost_nano"))
        .values_list("day", "model", "total")
    ):
        cost[(day, model)] += nano
        per_model[model] += nano
    models = sorted(per_model, key=lambda name: (-per_model[name], name))
    return period.days, models, cost


def by_member(rows: QuerySet[DailyUsage]) -> list[Mapping[str, Any]]:
    found = rows.values("user_id", "user__username").annotate(**{name: Sum(name) for name in SUMS})
    return sorted(found, key=lambda row: (-row["cost_nano"], row["user__username"] or ""))


def by_model(rows: QuerySet[DailyUsage]) -> list[Mapping[str, Any]]:
    found = rows.values("model").annotate(**{name: Sum(name) for name in SUMS})
    return sorted(found, key=lambda row: (-row["cost_nano"], row["model"]))


def daily(rows: QuerySet[DailyUsage]) -> list[Mapping[str, Any]]:
    return list(rows.values("day").annotate(**{name: Sum(name) for name in SUMS}).order_by("day"))


@dataclass
class Unsettled:
    calls: int = 0
    cost_nano: int = 0  # at the prices in force when each call was made


@dataclass
class Balance:
    team: Team
    cash_nano: int
    packs: list[Pack] = field(default_factory=list)
    unsettled: Unsettled = field(default_factory=Unsettled)
    held_nano: int = 0
    held_calls: int = 0
    available_nano: int = (
        0  # cash once every unsettled call and every hold is paid by the wallet's rule
    )
    today_nano: int = 0
    month_nano: int = 0
    days_left: int | None = None


def balance(team: Team, *, now: datetime | None = None) -> Balance:
    now = now or timezone.now()
    today = timezone.localdate(now)
    team.refresh_from_db(fields=["cash_nano"])
    standing = team_standing(team=team)
    packs = list(
        Pack.objects.filter(team=team, expired=False, expires_at__gt=now).order_by(
            "expires_at", "id"
        )
    )
    month = DailyUsage.objects.filter(team=team, day__gte=today.replace(day=1), day__lte=today)
    sums = month.aggregate(month=Sum("cost_nano"), today=Sum("cost_nano", filter=Q(day=today)))
    return Balance(
        team=team,
        cash_nano=team.cash_nano,
        packs=packs,
        unsettled=Unsettled(calls=standing.unsettled_calls, cost_nano=standing.unsettled_nano),
        held_nano=standing.held_nano,
        held_calls=standing.held_calls,
        available_nano=standing.available_cash_nano,
        today_nano=sums["today"] or 0,
        month_nano=sums["month"] or 0,
        days_left=days_left(team=team, today=today),
    )


def member_spends(team: Team, *, now: datetime | None = None) -> dict[int, int]:
    """Each member's spend this month in ``team`` (settled, plus unsettled at their prices)."""
    now = now or timezone.now()
    start = timezone.localtime(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    spends = dict(
        DailyUsage.objects.filter(team=team, day__gte=start.date())
        .values("user_id")
        .annotate(total=Sum("cost_nano"))
        .values_list("user_id", "total")
    )
    pending = list(
        UsageRecord.objects.filter(
            team=team, status=UsageRecord.Status.UNSETTLED, created_at__gte=start
        ).order_by()
    )
    book = PriceBook()
    for record in pending:
        spends[record.user_id] = spends.get(record.user_id, 0) + book.charge(record).cost_nano
    return spends


def months_with_usage(team: Team) -> list[date]:
    days = DailyUsage.objects.filter(team=team).dates("day", "month", order="DESC")
    return list(days)


class UnpricedModel(TypedDict):
    model: str
    calls: int


def unpriced_calls(team: Team | None = None) -> list[UnpricedModel]:
    """Settled calls that found no price (charged nothing): a price is missing in the admin."""
    records = UsageRecord.objects.filter(status=UsageRecord.Status.SETTLED, price=None).filter(
        Q(prompt_tokens__gt=0) | Q(completion_tokens__gt=0) | Q(images__gt=0)
    )
    if team is not None:
        records = records.filter(team=team)
    return list(records.values("model").annotate(calls=Count("id")).order_by("model"))


# --------------------------------------------------------------------------- site-wide (staff)


def site_teams(period: Period) -> list[dict]:
    """Every team: how it pays, its cash, its spend in the period, and what is in flight now."""
    spend: dict[int, Mapping[str, Any]] = {
        row["team_id"]: row
        for row in DailyUsage.objects.filter(day__gte=period.start, day__lte=period.end)
        .values("team_id")
        .annotate(cost_nano=Sum("cost_nano"), calls=Sum("calls"))
    }
    held: dict[int, Mapping[str, Any]] = {
        row["team_id"]: row
        for row in Hold.objects.values("team_id").annotate(
            held_nano=Sum("amount_nano"), held_calls=Count("id")
        )
    }
    unsettled = dict(
        UsageRecord.objects.filter(status=UsageRecord.Status.UNSETTLED)
        .order_by()
        .values("team_id")
        .annotate(calls=Count("id"))
        .values_list("team_id", "calls")
    )
    rows = [
        {
            "team": team,
            "cost_nano": spend.get(team.id, {}).get("cost_nano") or 0,
            "calls": spend.get(team.id, {}).get("calls") or 0,
            "held_nano": held.get(team.id, {}).get("held_nano") or 0,
            "held_calls": held.get(team.id, {}).get("held_calls") or 0,
            "unsettled_calls": unsettled.get(team.id, 0),
        }
        for team in Team.objects.select_related("personal_for")
    ]
    return sorted(rows, key=lambda row: (-row["cost_nano"], row["team"].name))


def site_users(period: Period) -> list[dict]:
    """Every user who spent in the period, across all their teams, with the split by team."""
    users: dict[int, dict] = {}
    for row in (
        DailyUsage.objects.filter(day__gte=period.start, day__lte=period.end)
        .values("user_id", "user__username", "team__name")
        .annotate(cost_nano=Sum("cost_nano"), calls=Sum("calls"))
        .order_by("user__username", "-cost_nano")
    ):
        user = users.setdefault(
            row["user_id"],
            {"username": row["user__username"], "cost_nano": 0, "calls": 0, "teams": []},
        )
        user["cost_nano"] += row["cost_nano"]
        user["calls"] += row["calls"]
        user["teams"].append({"name": row["team__name"], "cost_nano": row["cost_nano"]})
    return sorted(users.values(), key=lambda user: (-user["cost_nano"], user["username"]))
