"""Monthly bills."""

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts import reports
from accounts.forms import (
    FIRST_DAY,
    LAST_DAY,
    month_of,
)
from accounts.selectors import (
    AuthenticatedHttpRequest,
    require_membership,
)


@require_GET
def bills(request: AuthenticatedHttpRequest) -> HttpResponse:
    membership = require_membership(request)
    months = reports.months_with_usage(membership.team)
    return render(request, "accounts/bills.html", {"membership": membership, "months": months})


@require_GET
def bill(request: AuthenticatedHttpRequest, month: str) -> HttpResponse:
    membership = require_membership(request)
    first = month_of(month)
    if first is None:
        return render(
            request,
            "400.html",
            {
                "reason": f"“{month}” is not a month from {FIRST_DAY:%Y-%m} to "
                f"{LAST_DAY:%Y-%m} (YYYY-MM)."
            },
            status=400,
        )
    period = reports.Period.month(first.year, first.month)
    filters = reports.Filters(period=period, user_id=reports.visible_user_id(membership, None))
    rows = reports.rollups(membership.team, filters)
    return render(
        request,
        "accounts/bill.html",
        {
            "membership": membership,
            "team": membership.team,
            "period": period,
            "first": first,
            "totals": reports.totals(rows),
            "per_model": reports.by_model(rows),
            "members": reports.by_member(rows),
            "per_source": reports.by_source(rows),
            "daily": reports.daily(rows),
        },
    )
