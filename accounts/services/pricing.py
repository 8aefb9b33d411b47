"""Which price applies, and what a call costs at it."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, NotRequired, Protocol, TypedDict

from django.utils import timezone

from accounts import bands
from accounts.models import ModelEntry, Price, PriceTier, Team, UsageRecord
from bigmodel.tools import SEARCH_ENGINES
from runtime.kept import Kept

if TYPE_CHECKING:
    from accounts.reports import Period


class Billable(Protocol):
    """What a price applies to: a usage record, a hold, or a call about to be made
    (:class:`accounts.services.holds.WorstCase`)."""

    @property
    def model(self) -> str: ...
    @property
    def size(self) -> str: ...
    @property
    def quality(self) -> str: ...
    @property
    def prompt_tokens(self) -> int: ...
    @property
    def cached_tokens(self) -> int: ...
    @property
    def completion_tokens(self) -> int: ...
    @property
    def images(self) -> int: ...
    @property
    def search_engine(self) -> str: ...
    @property
    def searches(self) -> int: ...
    @property
    def created_at(self) -> datetime | None: ...


PER_MILLION = 10**6


@dataclass(frozen=True)
class Charge:
    """A call at a price: the tier it fell in, the rates (nano-yuan per million tokens) and what it
    costs."""

    price: Price | None
    tier: PriceTier | None
    input_rate: int
    cached_rate: int
    output_rate: int
    image_nano: int
    cost_nano: int  # its searches included
    search_nano: int = 0  # per search, at the engine's price

    def tokens_nano(self, *, uncached: int, cached: int, completion: int) -> int:
        """These tokens at this charge's rates, rounded half up to the nano, once."""
        exact = uncached * self.input_rate + cached * self.cached_rate
        exact += completion * self.output_rate
        return (exact + PER_MILLION // 2) // PER_MILLION

    @property
    def tier_label(self) -> str:
        return self.tier.label if self.tier is not None else ""


FREE = Charge(
    price=None, tier=None, input_rate=0, cached_rate=0, output_rate=0, image_nano=0, cost_nano=0
)


type PriceRows = dict[tuple[str, str, str], list[Price]]


def _price_rows() -> PriceRows:
    """Every price row with its tiers, by model, size and quality, newest first; shared by every
    book of the process, so a plain dict (nothing added by looking)."""
    rows: PriceRows = defaultdict(list)
    for row in Price.objects.prefetch_related("tiers").order_by("-effective_from"):
        rows[(row.model, row.size, row.quality)].append(row)
    return dict(rows)


_PRICES = Kept(_price_rows)


class PriceBook:
    """Every price row with its tiers (the search engines' too), to price any records: read from
    the database once per change of the prices (runtime.kept), not per book."""

    def __init__(self) -> None:
        self.rows = _PRICES.get()

    def in_force(
        self, model: str, moment: datetime, size: str = "", quality: str = ""
    ) -> Price | None:
        """The newest row from on or before ``moment``: the price of the image's own size and
        quality first, then of its size, of its quality, and of any image."""
        keys = dict.fromkeys(
            ((model, size, quality), (model, size, ""), (model, "", quality), (model, "", ""))
        )
        for key in keys:
            for row in self.rows.get(key, ()):
                if row.effective_from <= moment:
                    return row
        return None

    def charge(self, record: Billable, moment: datetime | None = None) -> Charge:
        """What ``record`` costs at the price in force at ``moment`` (default: its own time): its
        images, or its tokens at the tier its lengths fall in; and its searches."""
        return self._with_searches(self._call_charge(record, moment), record, moment)

    def _call_charge(self, record: Billable, moment: datetime | None) -> Charge:
        price = self._price(record, moment)
        if price is None:
            return FREE
        if record.images:
            return _at(price, None, record.images * price.image_nano)
        tier = bands.tier_for(price.tiers.all(), record.prompt_tokens, record.completion_tokens)
        return _tokens_at(price, tier, record)

    def worst_charge(self, call: Billable, moment: datetime | None = None) -> Charge:
        """A worst case at the dearest tier a call of at most its lengths may fall in."""
        price = self._price(call, moment)
        if price is None or call.images:
            return self.charge(call, moment)
        tiers = bands.reachable(price.tiers.all(), call.prompt_tokens, call.completion_tokens)
        charges = [_tokens_at(price, tier, call) for tier in tiers] or [FREE]
        dearest = max(charges, key=lambda charge: charge.cost_nano)
        return self._with_searches(dearest, call, moment)

    def _with_searches(self, charge: Charge, record: Billable, moment: datetime | None) -> Charge:
        """The engine's fee for each search the call made (a free model's call pays it too)."""
        if not record.searches:
            return charge
        when = moment or record.created_at
        assert when is not None  # as in _price
        engine = self.in_force(record.search_engine, when)
        fee = engine.image_nano if engine is not None else 0
        return replace(charge, search_nano=fee, cost_nano=charge.cost_nano + record.searches * fee)

    def _price(self, record: Billable, moment: datetime | None) -> Price | None:
        when = moment or record.created_at
        assert when is not None  # saved rows have one; hold_place gives a call its own
        return self.in_force(record.model, when, record.size, record.quality)


def _at(price: Price, tier: PriceTier | None, cost_nano: int) -> Charge:
    return Charge(
        price=price,
        tier=tier,
        input_rate=tier.input_rate if tier else 0,
        cached_rate=tier.cached_rate if tier else 0,
        output_rate=tier.output_rate if tier else 0,
        image_nano=price.image_nano,
        cost_nano=cost_nano,
    )


def _tokens_at(price: Price, tier: PriceTier | None, record: Billable) -> Charge:
    """A call no tier holds (a price with only an image rate) costs nothing for its tokens."""
    charge = _at(price, tier, 0)
    return replace(
        charge,
        cost_nano=charge.tokens_nano(
            uncached=record.prompt_tokens - record.cached_tokens,
            cached=record.cached_tokens,
            completion=record.completion_tokens,
        ),
    )


def price_problems(*, model: str, tiers: Sequence[bands.Banded]) -> list[str]:
    """Why a price's tiers cannot stand, in words: a gap or an overlap between bands, or a token
    model with none. An image model (priced per picture) and a search engine (per search) need
    no tiers."""
    if not tiers and (
        model in SEARCH_ENGINES
        or ModelEntry.objects.filter(name=model, kind=ModelEntry.Kind.IMAGE).exists()
    ):
        return []
    return bands.problems(tiers)


def price_in_force(
    *, model: str, moment: datetime, size: str = "", quality: str = ""
) -> Price | None:
    return PriceBook().in_force(model, moment, size, quality)


class RerateLine(TypedDict):
    model: str
    charged: int
    today: int
    difference: NotRequired[int]  # set once every row is summed


def rerate(*, team: Team, period: "Period") -> list[RerateLine]:
    """The re-rate preview. Per model: what the period's settled calls were charged (each at the
    price in force when it was made), and what the same calls would cost at the prices in force
    now, each in the tier its own lengths fall in."""
    start, end = period.bounds()
    records = UsageRecord.objects.filter(
        team=team, status=UsageRecord.Status.SETTLED, created_at__gte=start, created_at__lt=end
    ).only(
        "model", "size", "quality", "prompt_tokens", "cached_tokens", "completion_tokens",
        "images", "search_engine", "searches", "cost_nano",
    )  # fmt: skip
    out: dict[str, RerateLine] = {}
    book, now = PriceBook(), timezone.now()
    for record in records.iterator(chunk_size=5000):
        line = out.setdefault(record.model, {"model": record.model, "charged": 0, "today": 0})
        line["charged"] += record.cost_nano
        line["today"] += book.charge(record, now).cost_nano
    lines = sorted(out.values(), key=lambda line: line["model"])
    for line in lines:
        line["difference"] = line["today"] - line["charged"]
    return lines
