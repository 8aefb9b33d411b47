import json
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from accounts.models import ModelEntry, Price
from bigmodel.catalogue import catalogue_entries


@transaction.atomic
def catalogue_load(*, entries: list[dict] | None = None) -> tuple[int, int]:
    """Upsert the catalogue's models; returns (created, updated). `enabled` is the admin's to
    keep."""
    created = updated = 0
    for position, entry in enumerate(entries if entries is not None else catalogue_entries()):
        _, was_created = ModelEntry.objects.update_or_create(
            name=entry["name"],
            defaults={
                "kind": entry["kind"],
                "label": entry.get("label", entry["name"]),
                "deprecated": entry.get("deprecated", False),
                "spec": entry,
                "position": position,
            },
        )
        created += was_created
        updated += not was_created
    return created, updated


PRICES_FILE = Path(__file__).resolve().parent.parent / "prices.json"


@transaction.atomic
def prices_load(*, rows: list[dict] | None = None) -> int:
    """Add the seed prices that are not there yet (by model, size and date); never changes a row an
    admin may have edited. Dates are midnight in the app's time zone. Returns how many were
    added."""
    rows = rows if rows is not None else json.loads(PRICES_FILE.read_text())["prices"]
    added = 0
    for row in rows:
        start = timezone.make_aware(datetime.combine(date.fromisoformat(row["from"]), time.min))
        _, created = Price.objects.get_or_create(
            model=row["model"],
            size=row.get("size", ""),
            effective_from=start,
            defaults={
                "input_per_1k": Decimal(row.get("input_per_1k", "0")),
                "output_per_1k": Decimal(row.get("output_per_1k", "0")),
                "per_image": Decimal(row.get("per_image", "0")),
                "source": row.get("source", ""),
            },
        )
        added += created
    return added
