"""The CSV exports' contents: every call of a period (streamed a batch at a time, with how each was
paid and a total row) and the top-ups. Every cell is formula-safe."""

import csv
import io
from collections.abc import AsyncIterator, Iterable

from asgiref.sync import sync_to_async
from django.db.models import QuerySet
from django.utils import timezone

from accounts import money
from accounts.models import LedgerEntry, Team, TopUp, UsageRecord

USAGE_COLUMNS = [
    "time",
    "request_id",
    "user",
    "team",
    "model",
    "source",
    "key",
    "prompt_tokens",
    "cached_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "images",
    "searches",
    "exact",
    "tier",
    "unit_price",
    "cost_yuan",
    "paid_from",
]
# Summed on the total row; prompt tokens include the cached, completion tokens the reasoning.
TOTALLED = (
    "prompt_tokens",
    "cached_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "images",
    "searches",
)
CSV_BATCH = 2000


def _unit_price(record: UsageRecord) -> str:
    """As BigModel's price list gives them: ¥ per million tokens, or per image; and the web
    search's fee per call that searched."""
    if record.status != UsageRecord.Status.SETTLED:
        return ""
    if not record.searches:
        return _call_price(record)
    search = f"{record.search_engine} {money.exact(record.search_nano)} per search"
    return f"{_call_price(record)} + {search}"


def _call_price(record: UsageRecord) -> str:
    if record.price_id is None:
        return "no price"
    if record.images:
        return f"{money.exact(record.image_nano)} per image"
    rates = (record.input_rate, record.cached_rate, record.output_rate)
    if len(set(rates)) == 1:
        return f"{money.exact(record.input_rate)} per M tokens"
    uncached, cached, output = (money.exact(rate) for rate in rates)
    return f"in {uncached} / cache hit {cached} / out {output} per M tokens"


def _paid_from(record: UsageRecord, entries: list[LedgerEntry]) -> str:
    if record.status != UsageRecord.Status.SETTLED:
        return "unsettled"
    parts = [
        f"pack {entry.pack.name} {money.exact(-entry.amount_nano)}"
        + (f" ({entry.tokens} tokens)" if entry.tokens else "")
        if entry.pack is not None
        else f"cash {money.exact(-entry.amount_nano)}"
        for entry in entries
    ]
    return "; ".join(parts) or "free"


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(value: object) -> str:
    """A cell a spreadsheet will not run: text that would start a formula gets a leading '
    (OWASP)."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def csv_line(values: Iterable[object]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow([formula_safe(value) for value in values])
    return out.getvalue()


def _usage_batch(
    records_query: QuerySet[UsageRecord], after_id: int
) -> list[tuple[UsageRecord, list[LedgerEntry]]]:
    records = list(
        records_query.filter(id__gt=after_id)
        .order_by("id")
        .select_related("user", "team", "api_key")[:CSV_BATCH]
    )
    entries: dict[int, list[LedgerEntry]] = {}
    for entry in (
        LedgerEntry.objects.filter(usage__in=records).select_related("pack").order_by("id")
    ):
        assert entry.usage_id is not None  # filtered on usage__in above
        entries.setdefault(entry.usage_id, []).append(entry)
    return [(record, entries.get(record.id, [])) for record in records]


def _usage_row(record: UsageRecord, entries: list[LedgerEntry]) -> list:
    settled = record.status == UsageRecord.Status.SETTLED
    return [
        timezone.localtime(record.created_at).isoformat(),
        record.request_id,
        record.user.get_username(),
        record.team.name,
        record.model,
        record.source,
        str(record.api_key) if record.api_key else "",
        *(getattr(record, name) for name in TOTALLED),
        "exact" if record.exact else "estimated",
        record.tier if settled else "",
        _unit_price(record),
        money.exact(record.cost_nano) if settled else "",
        _paid_from(record, entries),
    ]


async def usage_lines(records_query: QuerySet[UsageRecord]) -> AsyncIterator[str]:
    """Rows a batch at a time (an async iterator: under ASGI a sync one is read whole first)."""
    yield csv_line(USAGE_COLUMNS)
    last, cost, totals = 0, 0, dict.fromkeys(TOTALLED, 0)
    while batch := await sync_to_async(_usage_batch)(records_query, last):
        lines = []
        for record, entries in batch:
            lines.append(csv_line(_usage_row(record, entries)))
            cost += record.cost_nano if record.status == UsageRecord.Status.SETTLED else 0
            for name in TOTALLED:
                totals[name] += getattr(record, name)
            last = record.id
        yield "".join(lines)
    total = (
        dict.fromkeys(USAGE_COLUMNS, "")
        | totals
        | {"time": "total", "cost_yuan": money.exact(cost)}
    )
    yield csv_line(total.values())


def topups_text(team: Team) -> str:
    """Every top-up of ``team``, oldest first, and their total."""
    rows = [["time", "team", "amount_yuan", "method", "note", "by"]]
    total = 0
    for topup in (
        TopUp.objects.filter(team=team).select_related("created_by").order_by("created_at", "id")
    ):
        rows.append(
            [
                timezone.localtime(topup.created_at).isoformat(),
                team.name,
                money.exact(topup.amount_nano),
                topup.method,
                topup.note,
                topup.created_by.get_username() if topup.created_by else "",
            ]
        )
        total += topup.amount_nano
    rows.append(["total", "", money.exact(total), "", "", ""])
    return "".join(csv_line(row) for row in rows)
