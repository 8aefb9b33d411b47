import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from accounts.models import ModelEntry, Price, PriceTier
from accounts.services.pricing import PriceBook, price_problems
from bigmodel.catalogue import ModelSpec, catalogue_entries
from runtime.kept import Kept, kept_changed


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


@dataclass(frozen=True)
class _Entry:
    """A model of the catalogue as kept: its row, its spec, and since when a price row of it is in
    force (the earliest row's date, of any size and quality; None: it has no row)."""

    row: ModelEntry
    spec: ModelSpec
    priced_from: datetime | None

    def enabled_as(self, kinds: Iterable[str]) -> bool:
        return self.row.enabled and self.row.kind in kinds

    def priced(self, now: datetime) -> bool:
        """A row stays in force until a later one replaces it, so the earliest row's date
        decides (a row whose rates are zero prices it too: free)."""
        return self.priced_from is not None and self.priced_from <= now

    def offered(self, kinds: Iterable[str], now: datetime) -> bool:
        """The rule: a model is offered while it is enabled and a price row of it is in force."""
        return self.enabled_as(kinds) and self.priced(now)


def _priced_from() -> dict[str, datetime]:
    """Per model, the date of its earliest price row, read from the prices as kept."""
    earliest: dict[str, datetime] = {}
    for (model, _size, _quality), rows in PriceBook().rows.items():
        first = rows[-1].effective_from  # newest first
        if model not in earliest or first < earliest[model]:
            earliest[model] = first
    return earliest


def _specs() -> dict[str, _Entry]:
    priced_from = _priced_from()
    return {
        row.name: _Entry(row, row.as_spec(), priced_from.get(row.name))
        for row in ModelEntry.objects.all()
    }


# The catalogue with the prices' dates: one kept copy, so a call's check reads nothing more.
_CATALOGUE = Kept(_specs)


def catalogue_spec(name: str, kinds: Iterable[str]) -> ModelSpec | None:
    """The spec of ``name`` if it is offered as one of ``kinds`` (enabled, and priced now), read
    from the catalogue as kept (runtime.kept)."""
    found = _CATALOGUE.get().get(name)
    if found is None or not found.offered(kinds, timezone.now()):
        return None
    return found.spec


def catalogue_unpriced(name: str, kinds: Iterable[str]) -> bool:
    """Whether ``name`` is an enabled model of one of ``kinds`` left unoffered for want of a price
    in force now (to tell it apart from a name the catalogue does not offer at all)."""
    found = _CATALOGUE.get().get(name)
    return found is not None and found.enabled_as(kinds) and not found.priced(timezone.now())


UPLOAD_MARGIN = 1024 * 1024  # the form's other fields


def upload_limit() -> int:
    """The largest turn the playground takes: the most images of the largest size any enabled
    vision model takes, and a margin. From the catalogue as last kept (the turn then checks its
    stamp, once, and its images against its model exactly)."""
    images = [
        entry.spec.images
        for entry in _CATALOGUE.last().values()
        if entry.row.enabled and entry.spec.images
    ]
    largest = max((limits.max_bytes * limits.max_count for limits in images), default=0)
    return largest + UPLOAD_MARGIN


def offered_names(kinds: Iterable[str]) -> set[str]:
    """The models offered now as one of ``kinds``: what the pickers list."""
    kinds, now = tuple(kinds), timezone.now()
    return {name for name, found in _CATALOGUE.get().items() if found.offered(kinds, now)}


def unpriced_entries() -> list[ModelEntry]:
    """The catalogue's models without a price in force now, in its order (disabled ones too:
    enabling one would not offer it)."""
    now = timezone.now()
    return [found.row for found in _CATALOGUE.get().values() if not found.priced(now)]


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
