"""Which price applies, and what a call costs at it."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, NotRequired, Protocol, TypedDict

from django.db.models import Sum
from django.utils import timezone

from accounts.models import Price, Team, UsageRecord

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
    def prompt_tokens(self) -> int: ...
    @property
    def completion_tokens(self) -> int: ...
    @property
    def images(self) -> int: ...
    @property
    def created_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class Charge:
    price: Price | None
    input_nano: int
    output_nano: int
    image_nano: int
    cost_nano: int


FREE = Charge(price=None, input_nano=0, output_nano=0, image_nano=0, cost_nano=0)


class PriceBook:
    """Every price row of some models, to price many records with one query."""

    def __init__(self, models: Iterable[str]) -> None:
        self.rows: dict[tuple[str, str], list[Price]] = defaultdict(list)
        for row in Price.objects.filter(model__in=set(models)).order_by("-effective_from"):
            self.rows[(row.model, row.size)].append(row)

    def in_force(self, model: str, moment: datetime, size: str = "") -> Price | None:
        """The newest row from on or before ``moment``: the size's own price first, then any
        size."""
        for key in ((model, size), (model, "")) if size else ((model, ""),):
            for row in self.rows.get(key, ()):
                if row.effective_from <= moment:
                    return row
        return None

    def charge(self, record: Billable, moment: datetime | None = None) -> Charge:
        when = moment or record.created_at
        assert when is not None  # saved rows have one; hold_place gives a call its own
        price = self.in_force(record.model, when, record.size)
        if price is None:
            return FREE
        cost = (
            record.images * price.image_nano
            if record.images
            else record.prompt_tokens * price.input_nano
            + record.completion_tokens * price.output_nano
        )
        return Charge(
            price=price,
            input_nano=price.input_nano,
            output_nano=price.output_nano,
            image_nano=price.image_nano,
            cost_nano=cost,
        )


def price_in_force(*, model: str, moment: datetime, size: str = "") -> Price | None:
    return PriceBook([model]).in_force(model, moment, size)


class RerateLine(TypedDict):
    model: str
    charged: int
    today: int
    difference: NotRequired[int]  # set once every row is summed


def rerate(*, team: Team, period: "Period") -> list[RerateLine]:
    """The re-rate preview. Per model: what the period's settled calls were charged (each at the
    price in force when it was made), and what the same usage would cost at today's prices."""
    start, end = period.bounds()
    records = UsageRecord.objects.filter(
        team=team, status=UsageRecord.Status.SETTLED, created_at__gte=start, created_at__lt=end
    )
    grouped = records.values("model", "size").annotate(
        prompt=Sum("prompt_tokens"),
        completion=Sum("completion_tokens"),
        images=Sum("images"),
        charged=Sum("cost_nano"),
    )
    out: dict[str, RerateLine] = {}
    book, now = PriceBook({row["model"] for row in grouped}), timezone.now()
    for row in grouped:
        probe = UsageRecord(
            model=row["model"],
            size=row["size"],
            prompt_tokens=row["prompt"],
            completion_tokens=row["completion"],
            images=row["images"],
        )
        line = out.setdefault(row["model"], {"model": row["model"], "charged": 0, "today": 0})
        line["charged"] += row["charged"]
        line["today"] += book.charge(probe, now).cost_nano
    lines = sorted(out.values(), key=lambda line: line["model"])
    for line in lines:
        line["difference"] = line["today"] - line["charged"]
    return lines
