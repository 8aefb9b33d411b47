"""The prices in force, their history, and a re-rate preview."""

from datetime import datetime

from django.http import HttpResponse
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
    AuthenticatedHttpRequest,
    require_membership,
)
from accounts.services import pricing as prices
from accounts.services.catalogue import unpriced_entries
from bigmodel.tools import SEARCH_ENGINES


def _rows_in_force(book: prices.PriceBook, model: str, now: datetime) -> list[Price]:
    """The model's price rows in force now: the one for any image or call, and one per size and
    quality an image model is priced by."""
    found = {
        book.in_force(model, now, size, quality)
        for (name, size, quality) in book.rows
        if name == model
    }
    return sorted(filter(None, found), key=lambda row: (row.size, row.quality))


@require_GET
def pricing(request: AuthenticatedHttpRequest) -> HttpResponse:
    membership = require_membership(request)
    now = timezone.now()
    book = prices.PriceBook()
    current = [
        (entry, in_force)
        for entry in ModelEntry.objects.all()
        if (in_force := _rows_in_force(book, entry.name, now))
    ]
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
            # What staff can mend: models the catalogue has but does not offer, for want of a price.
            "not_offered": unpriced_entries() if request.user.is_staff else [],
        },
        status=400 if form.errors else 200,
    )
