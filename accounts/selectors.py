"""Reads for accounts: whose team is active, who may see what. Nothing here writes."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import Case, Count, F, OuterRef, Q, QuerySet, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django_htmx.middleware import HtmxDetails

from accounts import reports
from accounts.models import ApiKey, Membership, Team, UsageRecord
from accounts.money import rate_text
from accounts.services.keys import keys_period_spend
from accounts.services.pricing import PriceBook
from accounts.services.usage import member_month_spend

SESSION_KEY = "active_team_id"
NO_TEAM = (
    "You are not in a team yet, so nothing can be billed for you: "
    "ask a site admin to add you to one."
)


class AuthenticatedHttpRequest(HttpRequest):
    """A request past the login check (LoginRequiredMiddleware): its user is a real one. (And past
    django-htmx's middleware, which gives every request ``htmx``.)"""

    user: User
    htmx: HtmxDetails


def memberships_for(*, user: User) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(user=user)
        .select_related("team")
        .order_by("team__name", "team_id")
    )


def active_membership(request: AuthenticatedHttpRequest) -> Membership | None:
    """The membership of the team the user picked in the header (their personal team by default);
    None for a user in no team (personal teams are made with the user, and at login)."""
    memberships = list(memberships_for(user=request.user))
    chosen = request.session.get(SESSION_KEY)
    for membership in memberships:
        if membership.team_id == chosen:
            return membership
    personal = next((m for m in memberships if m.team.personal_for_id == request.user.id), None)
    return personal or (memberships[0] if memberships else None)


def require_membership(request: AuthenticatedHttpRequest) -> Membership:
    """The active membership, for pages that are about a team: 403 (saying why) for a user in
    none."""
    membership = active_membership(request)
    if membership is None:
        raise PermissionDenied(NO_TEAM)
    return membership


def get_membership_for_user(*, user: User, team_id: int | str | None) -> Membership:
    if not str(team_id).isdigit():
        raise Http404("No such team.")
    return get_object_or_404(Membership.objects.select_related("team"), user=user, team_id=team_id)


def team_for_member(*, team: Team, membership_id: int) -> Membership:
    return get_object_or_404(Membership.objects.select_related("user"), team=team, id=membership_id)


@dataclass(frozen=True)
class PriceSummary:
    """A model's price in force now, in a line for a picker: "¥2–4 in · ¥8–16 out per M"."""

    text: str
    detail: str  # a line per band, for a tooltip
    confirmed: bool


def _span(rates: list[Decimal]) -> str:
    low, high = min(rates), max(rates)
    return f"¥{rate_text(low)}" if low == high else f"¥{rate_text(low)}–{rate_text(high)}"


def price_summaries(*, models: Iterable[str]) -> dict[str, PriceSummary]:
    """What each model costs now (models with no price are left out)."""
    book, now = PriceBook(), timezone.now()
    summaries = {}
    for model in set(models):
        price = book.in_force(model, now)
        if price is None:
            continue
        tiers = list(price.tiers.all())
        if not tiers:
            text = f"¥{rate_text(price.per_image)} per image" if price.per_image else "free"
            detail = text
        elif not any(t.input_per_m or t.cached_per_m or t.output_per_m for t in tiers):
            text = detail = "free"
        else:
            text = (
                f"{_span([t.input_per_m for t in tiers])} in · "
                f"{_span([t.output_per_m for t in tiers])} out per M tokens"
            )
            detail = "\n".join(
                f"{t.label}: in ¥{rate_text(t.input_per_m)}, "
                f"cache hit ¥{rate_text(t.cached_per_m)}, out ¥{rate_text(t.output_per_m)}"
                for t in tiers
            )
        summaries[model] = PriceSummary(text=text, detail=detail, confirmed=price.confirmed)
    return summaries


def sees_team_money(*, membership: Membership) -> bool:
    """Who answers for the team's money sees its flows and forecasts: its owners and admins, and
    site staff (the site's key pays for every call)."""
    return membership.manages or membership.user.is_staff


@dataclass(frozen=True)
class Allowance:
    """What a member may still spend this month: their cap (None: none), what counts against it
    as admission counts it (settled, unsettled, and calls in progress at their worst case), what
    is left, and when it starts again."""

    cap_nano: int | None
    spent_nano: int
    resets_at: datetime

    @property
    def left_nano(self) -> int:
        return max(self.cap_nano - self.spent_nano, 0) if self.cap_nano is not None else 0

    @property
    def over_nano(self) -> int:
        """Past the cap: only an upstream reporting more than a hold allowed gets there."""
        return max(self.spent_nano - self.cap_nano, 0) if self.cap_nano is not None else 0

    @property
    def percent(self) -> int:
        """How much of the cap is used, 0–100 (a cap of nothing is used up)."""
        if not self.cap_nano:
            return 100
        return min(100, self.spent_nano * 100 // self.cap_nano)


def member_allowance(*, membership: Membership, now: datetime | None = None) -> Allowance:
    """The member's month so far against their cap, reset at local midnight on the 1st."""
    now = timezone.localtime(now or timezone.now())
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return Allowance(
        cap_nano=membership.monthly_cap_nano,
        spent_nano=member_month_spend(
            team=membership.team, user=membership.user, now=now, with_holds=True
        ),
        resets_at=(first + timedelta(days=32)).replace(day=1),
    )


@dataclass(frozen=True)
class OverHold:
    """Calls that cost more than was held for them, for one reason."""

    cause: str  # one of OVER_HOLD_CAUSES
    calls: int
    over_nano: int


@dataclass(frozen=True)
class OverHolds:
    causes: list[OverHold]

    @property
    def calls(self) -> int:
        return sum(cause.calls for cause in self.causes)

    @property
    def over_nano(self) -> int:
        return sum(cause.over_nano for cause in self.causes)


# Which length the upstream passed, in the order the dashboard tells them: the prompt longer than
# its estimate, the answer longer than max_tokens, both, neither (priced higher than when it was
# held), or unknown (a record from before the lengths held were kept).
OVER_HOLD_CAUSES = ("prompt", "answer", "both", "neither", "unknown")


def over_holds(*, team: Team, filters: reports.Filters) -> OverHolds:
    """Settled calls of the filters (period, member, model, source) that cost more than the worst
    case held for them, by which length passed what was held: what pushed past a cap or a prepaid
    balance, if anything did."""
    start, end = filters.period.bounds()
    records = reports.narrowed(
        UsageRecord.objects.filter(
            team=team,
            status=UsageRecord.Status.SETTLED,
            created_at__gte=start,
            created_at__lt=end,
            held_nano__isnull=False,
            cost_nano__gt=F("held_nano"),
        ),
        filters,
    )
    prompt_over = Q(prompt_tokens__gt=F("held_prompt_tokens"))
    answer_over = Q(completion_tokens__gt=F("held_completion_tokens"))
    cause = Case(
        When(Q(held_prompt_tokens=None) | Q(held_completion_tokens=None), then=Value("unknown")),
        When(prompt_over & answer_over, then=Value("both")),
        When(prompt_over, then=Value("prompt")),
        When(answer_over, then=Value("answer")),
        default=Value("neither"),
    )
    found = {
        row["cause"]: OverHold(row["cause"], row["calls"], row["over"])
        for row in records.order_by()
        .annotate(cause=cause)
        .values("cause")
        .annotate(calls=Count("id"), over=Sum(F("cost_nano") - F("held_nano")))
    }
    return OverHolds([found[name] for name in OVER_HOLD_CAUSES if name in found])


def visible_keys(*, membership: Membership) -> QuerySet[ApiKey]:
    """The active team's keys the member may see: their own; all of them for its managers."""
    keys = ApiKey.objects.filter(team=membership.team).select_related("user", "revoked_by")
    return keys if membership.manages else keys.filter(user=membership.user)


def keys_for(*, membership: Membership) -> list[ApiKey]:
    """The active team's keys the member may see (their own; all of them for its owners and
    admins), each with ``spent_nano``, what its settled calls cost this calendar month, and for
    a key with a budget ``period_spent_nano``, what counts against it now."""
    month = timezone.localdate().replace(day=1)
    start = timezone.make_aware(datetime.combine(month, time.min))
    spent = (
        UsageRecord.objects.filter(
            api_key=OuterRef("pk"), status=UsageRecord.Status.SETTLED, created_at__gte=start
        )
        .order_by()
        .values("api_key")
        .annotate(total=Sum("cost_nano"))
        .values("total")
    )
    keys = visible_keys(membership=membership)
    # ApiKey declares the name; the plugin refuses an annotation of a declared name.
    found = list(keys.annotate(spent_nano=Coalesce(Subquery(spent), 0)))  # type: ignore[no-redef]
    return _with_period_spend(found)


def key_shown(*, membership: Membership, key_id: int) -> ApiKey | None:
    """One key the member may see, with what counts against its budget now."""
    key = visible_keys(membership=membership).filter(id=key_id).first()
    return _with_period_spend([key])[0] if key is not None else None


def _with_period_spend(keys: list[ApiKey]) -> list[ApiKey]:
    spend = keys_period_spend([key for key in keys if key.budget_nano])
    for key in keys:
        key.period_spent_nano = spend.get(key.id, 0)
    return keys
