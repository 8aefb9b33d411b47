"""Reads for accounts: whose team is active, who may see what. Nothing here writes."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import ApiKey, Membership, Team, UsageRecord
from accounts.money import rate_text
from accounts.services.keys import keys_period_spend
from accounts.services.pricing import PriceBook

SESSION_KEY = "active_team_id"
NO_TEAM = (
    "You are not in a team yet, so nothing can be billed for you: "
    "ask a site admin to add you to one."
)


class AuthenticatedHttpRequest(HttpRequest):
    """A request past the login check (LoginRequiredMiddleware): its user is a real one."""

    user: User


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


def visible_keys(*, membership: Membership) -> QuerySet[ApiKey]:
    """The active team's keys the member may see: their own; all of them for its managers."""
    keys = ApiKey.objects.filter(team=membership.team).select_related("user")
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
