"""Which price applies, and what a call costs at it."""

from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Sum
from django.utils import timezone

from accounts.models import Price, UsageRecord


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

    def __init__(self, models) -> None:
        self.rows: dict[tuple[str, str], list[Price]] = defaultdict(list)
        for row in Price.objects.filter(model__in=set(models)).order_by("-effective_from"):
            self.rows[(row.model, row.size)].append(row)

    def in_force(self, model: str, moment, size: str = "") -> Price | None:
        """The newest row from on or before ``moment``: the size's own price first, then any
        size."""
        for key in ((model, size), (model, "")) if size else ((model, ""),):
            for row in self.rows.get(key, ()):
                if row.effective_from <= moment:
                    return row
        return None

    def charge(self, record: UsageRecord, moment=None) -> Charge:
        price = self.in_force(record.model, moment or record.created_at, record.size)
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


def price_in_force(*, model: str, moment, size: str = "") -> Price | None:
    return PriceBook([model]).in_force(model, moment, size)


def rerate(*, team, period) -> list[dict]:
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
    book, now, out = PriceBook({row["model"] for row in grouped}), timezone.now(), {}
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
