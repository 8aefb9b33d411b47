"""Downloads: every call of a period, and the top-ups, as formula-safe CSV (accounts.exports)."""

from collections.abc import AsyncIterator

from django.http import HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from accounts import exports
from accounts.forms import DateRangeForm
from accounts.models import UsageRecord
from accounts.selectors import AuthenticatedHttpRequest, require_membership


def _csv_response(
    lines: str | AsyncIterator[str], filename: str
) -> HttpResponse | StreamingHttpResponse:
    """A CSV download: ``lines`` is the whole text, or an async iterator of it (streamed)."""
    kind = HttpResponse if isinstance(lines, str) else StreamingHttpResponse
    response = kind(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
def usage_csv(request: AuthenticatedHttpRequest) -> HttpResponse | StreamingHttpResponse:
    membership = require_membership(request)
    form = DateRangeForm(request.GET, required=True)
    if not form.is_valid():
        return HttpResponse(
            form.problems() + "\n", status=400, content_type="text/plain; charset=utf-8"
        )
    period = form.cleaned_data["period"]
    start, end = period.bounds()
    records = UsageRecord.objects.filter(
        team=membership.team, created_at__gte=start, created_at__lt=end
    )
    if not membership.manages:
        records = records.filter(user=request.user)
    return _csv_response(exports.usage_lines(records), f"usage-{period.start}-{period.end}.csv")


@require_GET
def topups_csv(request: AuthenticatedHttpRequest) -> HttpResponse | StreamingHttpResponse:
    return _csv_response(exports.topups_text(require_membership(request).team), "topups.csv")
