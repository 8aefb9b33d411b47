import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from accounts.models import ModelEntry, Price, PriceTier
from accounts.services.pricing import price_problems
from bigmodel.catalogue import ModelSpec, catalogue_entries
from config.kept import Kept, kept_changed


@dataclass
class Loaded:
    """What a catalogue load did, by model name."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # edited by hand, left alone


def _columns(entry: dict) -> dict:
    """What a load writes of an entry (besides its place in the order)."""
    return {
        "kind": entry["kind"],
        "label": entry.get("label", entry["name"]),
        "deprecated": entry.get("deprecated", False),
        "spec": entry,
    }


def _edited_by_hand(row: ModelEntry) -> bool:
    """Whether the row differs from the file's entry it was last loaded from (``enabled`` and the
    order are the admin's anyway). A row loaded before loads were remembered counts as not
    edited: those loads overwrote every row."""
    if not row.loaded:
        return False
    return any(getattr(row, name) != value for name, value in _columns(row.loaded).items())


@transaction.atomic
def catalogue_load(*, entries: list[dict] | None = None, force: bool = False) -> Loaded:
    """Add the catalogue's new models and bring the others up to date, except a model an admin
    edited by hand since it was loaded (unless ``force``). ``enabled`` is always the admin's."""
    done = Loaded()
    existing = {row.name: row for row in ModelEntry.objects.all()}
    for position, entry in enumerate(entries if entries is not None else catalogue_entries()):
        row, columns = existing.get(entry["name"]), {**_columns(entry), "position": position}
        if row is None:
            ModelEntry.objects.create(name=entry["name"], loaded=entry, **columns)
            done.created.append(entry["name"])
        elif _edited_by_hand(row) and not force:
            done.kept.append(entry["name"])
        else:
            ModelEntry.objects.filter(id=row.id).update(loaded=entry, **columns)
            done.updated.append(entry["name"])
    kept_changed()  # update() sends no signal
    return done


def _specs() -> dict[str, tuple[ModelEntry, ModelSpec]]:
    return {row.name: (row, row.as_spec()) for row in ModelEntry.objects.all()}


_CATALOGUE = Kept(_specs)


def catalogue_spec(name: str, kinds: Iterable[str]) -> ModelSpec | None:
    """The spec of the enabled model ``name`` if it is of one of ``kinds``, read from the
    catalogue as kept (config.kept)."""
    found = _CATALOGUE.get().get(name)
    if found is None or not found[0].enabled or found[0].kind not in kinds:
        return None
    return found[1]


PRICES_FILE = Path(__file__).resolve().parent.parent / "prices.json"


def _tiers(row: dict) -> list[PriceTier]:
    """A seed row's tiers: ``{"input": [from, to], "output": [from, to], "input_per_m": …,
    "cached_per_m": …, "output_per_m": …}``, ``to`` null for no limit; a missing band is any
    length, and a missing cache-hit price is the input price."""
    tiers = []
    for tier in row.get("tiers", ()):
        (prompt_from, prompt_to), (completion_from, completion_to) = (
            tier.get("input", (0, None)),
            tier.get("output", (0, None)),
        )
        tiers.append(
            PriceTier(
                prompt_from=prompt_from,
                prompt_to=prompt_to,
                completion_from=completion_from,
                completion_to=completion_to,
                input_per_m=Decimal(tier["input_per_m"]),
                cached_per_m=Decimal(tier.get("cached_per_m", tier["input_per_m"])),
                output_per_m=Decimal(tier.get("output_per_m", "0")),
            )
        )
    return tiers


@transaction.atomic
def prices_load(*, rows: list[dict] | None = None) -> int:
    """Add the seed prices that are not there yet (by model, size and date), each with its tiers;
    never changes a row an admin may have edited. Dates are midnight in the app's time zone.
    Returns how many were added; a seed row whose tiers do not cover every length is refused."""
    rows = rows if rows is not None else json.loads(PRICES_FILE.read_text())["prices"]
    added = 0
    for row in rows:
        tiers = _tiers(row)
        if problems := price_problems(model=row["model"], tiers=tiers):
            raise ValueError(f"The seed price of {row['model']} from {row['from']}: {problems}")
        start = timezone.make_aware(datetime.combine(date.fromisoformat(row["from"]), time.min))
        price, created = Price.objects.get_or_create(
            model=row["model"],
            size=row.get("size", ""),
            quality=row.get("quality", ""),
            effective_from=start,
            defaults={
                "per_image": Decimal(row.get("per_image", "0")),
                "source": row.get("source", ""),
                "confirmed": row.get("confirmed", True),
            },
        )
        if created:
            for tier in tiers:
                tier.price = price
            PriceTier.objects.bulk_create(tiers)
        added += created
    return added
