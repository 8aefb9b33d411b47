"""The dashboard of the active team, its summary as JSON, and site staff's page of every team."""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts import charts, money, reports
from accounts.forms import (
    DateRangeForm,
    PeriodForm,
)
from accounts.models import (
    Membership,
    Pack,
)
from accounts.selectors import (
    AuthenticatedHttpRequest,
    active_membership,
    key_shown,
    member_allowance,
    over_holds,
    require_membership,
    sees_team_money,
    visible_keys,
)


def _filters(request: HttpRequest, membership: Membership) -> tuple[PeriodForm, reports.Filters]:
    """The dashboard's filters; a period out of range falls back to the last 30 days, with the form
    saying why (and the page answering 400)."""
    form = PeriodForm(request.GET)
    data = form.cleaned_data if form.is_valid() else {}
    period = data.get("period") or reports.Period.last_days(PeriodForm.default_days)
    user_id = reports.visible_user_id(membership, data.get("member"))
    return form, reports.Filters(
        period=period,
        user_id=user_id,
        model=data.get("model") or "",
        source=data.get("source") or "",
    )


@require_GET
def dashboard(request: AuthenticatedHttpRequest) -> HttpResponse:
    membership = require_membership(request)
    team = membership.team
    form, filters = _filters(request, membership)
    rows = reports.rollups(team, filters)
    days, models, cost = reports.by_day_and_model(rows, filters.period)
    members = reports.by_member(rows) if membership.manages else []
    per_model = reports.by_model(rows)
    per_source = reports.by_source(rows)
    sees_money = sees_team_money(membership=membership)
    context = {
        "membership": membership,
        "team": team,
        "form": form,
        "filters": filters,
        "balance": reports.balance(team),
        "sees_team_money": sees_money,
        # A member's own month, for those it binds (a cap) or who see no team-wide spend.
        "allowance": member_allowance(membership=membership)
        if membership.monthly_cap_nano is not None or not sees_money
        else None,
        "totals": reports.totals(rows),
        "spend_chart": charts.stacked_by_day(days, models, cost),
        "member_chart": charts.horizontal(
            members,
            label=lambda r: r["user__username"],
            value=lambda r: r["cost_nano"],
            text=lambda r: (
                f"{money.yuan(r['cost_nano'])}, "
                f"{r['prompt_tokens'] + r['completion_tokens']:,} tokens"
            ),
        ),
        "model_chart": charts.horizontal(
            per_model,
            label=lambda r: r["model"],
            value=lambda r: r["cost_nano"],
            text=lambda r: f"{money.yuan(r['cost_nano'])}, {r['calls']:,} calls",
        ),
        "source_chart": charts.horizontal(
            per_source,
            label=lambda r: r["label"],
            value=lambda r: r["cost_nano"],
            text=lambda r: f"{money.yuan(r['cost_nano'])}, {r['calls']:,} calls",
        ),
        "members": members,
        "per_model": per_model,
        "per_source": per_source,
        "key_choices": visible_keys(membership=membership),
        # The one API key the dashboard is filtered to, if any.
        "key_shown": key_shown(membership=membership, key_id=int(filters.source))
        if filters.source.isdigit()
        else None,
        "member_choices": Membership.objects.filter(team=team).select_related("user")
        if membership.manages
        else [],
        "model_choices": sorted(
            set(
                reports.rollups(
                    team,
                    reports.Filters(
                        filters.period, user_id=reports.visible_user_id(membership, None)
                    ),
                ).values_list("model", flat=True)
            )
        ),
        "unpriced": reports.unpriced_calls(team),
        "over_holds": over_holds(team=team, filters=filters) if sees_money else None,
    }
    return render(request, "accounts/dashboard.html", context, status=400 if form.errors else 200)


@require_GET
def summary_json(request: AuthenticatedHttpRequest) -> JsonResponse:
    membership = require_membership(request)
    balance = reports.balance(membership.team)
    packs = [
        {
            "name": pack.name,
            "unit": pack.unit,
            "remaining": str(pack.remaining)
            if pack.unit == Pack.Unit.TOKENS
            else money.exact(pack.remaining),
            "expires": pack.expires_at.isoformat(),
            "models": pack.models_scope or "all",
        }
        for pack in balance.packs
    ]
    return JsonResponse(
        {
            "team": membership.team.name,
            "billing": membership.team.billing,
            "cash_yuan": money.exact(balance.cash_nano),
            "packs": packs,
            "month_spend_yuan": money.exact(balance.month_nano),
            "today_spend_yuan": money.exact(balance.today_nano),
            "unsettled_yuan": money.exact(balance.unsettled.cost_nano),
            "unsettled_calls": balance.unsettled.calls,
            "days_left": balance.days_left,
        }
    )


@require_GET
def site_spend(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Site staff: every team's and every user's spend, so no spend on the site's key is out of
    sight."""
    if not request.user.is_staff:
        raise PermissionDenied("Site-wide spend is for site admins.")
    form = DateRangeForm(request.GET)
    period = (
        form.cleaned_data["period"]
        if form.is_valid()
        else reports.Period.last_days(DateRangeForm.default_days)
    )
    teams_ = reports.site_teams(period)
    return render(
        request,
        "accounts/site.html",
        {
            "membership": active_membership(request),
            "form": form,
            "period": period,
            "teams": teams_,
            "users": reports.site_users(period),
            "total_nano": sum(row["cost_nano"] for row in teams_),
        },
        status=400 if form.errors else 200,
    )
