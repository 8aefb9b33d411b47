"""The prices in force, their history, and a re-rate preview."""

from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts import reports
from accounts.forms import (
    DateRangeForm,
)
from accounts.models import (
    ModelEntry,
    Price,
)
from accounts.selectors import (
    require_membership,
)
from accounts.services import pricing as prices
from bigmodel.tools import SEARCH_ENGINES


@require_GET
def pricing(request):
    membership = require_membership(request)
    now = timezone.now()
    book = prices.PriceBook()
    current = [(entry, book.in_force(entry.name, now)) for entry in ModelEntry.objects.all()]
    searches = [(engine, book.in_force(engine, now)) for engine in SEARCH_ENGINES]
    history = Price.objects.prefetch_related("tiers").order_by(
        "model", "size", "quality", "-effective_from"
    )
    form = DateRangeForm(
        request.GET or None,
        required=True,
        initial={"start": reports.Period.last_days(30).start, "end": timezone.localdate()},
    )
    rerate = None
    if form.is_valid():
        period = form.cleaned_data["period"]
        lines = prices.rerate(team=membership.team, period=period)
        rerate = {
            "period": period,
            "lines": lines,
            "charged": sum(line["charged"] for line in lines),
            "today": sum(line["today"] for line in lines),
        }
    return render(
        request,
        "accounts/pricing.html",
        {
            "membership": membership,
            "current": current,
            "searches": searches,
            "history": history,
            "form": form,
            "rerate": rerate,
            "unpriced": reports.unpriced_calls(membership.team),
        },
        status=400 if form.errors else 200,
    )
