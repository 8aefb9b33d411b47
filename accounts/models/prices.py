"""Prices: a model's price from a date on, and its bands."""

from django.db import models

from accounts import bands
from accounts.money import NANO_PER_YUAN


class Price(models.Model):
    """A model's price from a date on. Rows are never edited in place for past periods: a change is
    a new row, and each usage record keeps the tier and unit prices it was charged at. Tokens are
    priced by the row's tiers (:class:`PriceTier`); images by ``per_image``, and so are the
    searches of a web search engine (a row whose model is the engine, e.g. ``search_pro``)."""

    model = models.CharField(max_length=64)
    effective_from = models.DateTimeField()
    per_image = models.DecimalField(
        max_digits=18,
        decimal_places=6,
        default=0,
        help_text="¥ per generated image (a search engine's row: per search).",
    )
    size = models.CharField(
        max_length=16, blank=True, help_text="Image size this price is for; empty: any."
    )
    quality = models.CharField(
        max_length=16, blank=True, help_text="Image quality this price is for; empty: any."
    )
    source = models.CharField(
        max_length=300, blank=True, help_text="Where and when the figure was taken."
    )
    confirmed = models.BooleanField(
        default=True,
        help_text="Read from BigModel's own price list; unticked: taken from elsewhere, to check.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["model", "size", "quality", "effective_from"],
                name="one_price_per_model_size_quality_date",
            ),
            models.CheckConstraint(
                condition=models.Q(per_image__gte=0), name="image_price_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model} from {self.effective_from:%Y-%m-%d}"

    @property
    def applies_to(self) -> str:
        """ "any size, any quality", "1024x1024, hd"."""
        return f"{self.size or 'any size'}, {self.quality or 'any quality'}"

    @property
    def image_nano(self) -> int:
        return int(self.per_image * NANO_PER_YUAN)


class PriceTier(models.Model):
    """One band of a price: calls whose prompt (and, where BigModel bands it, completion) falls in
    it pay its three rates for the whole call. Bands are [from, to) in tokens; an empty ``to`` is
    open-ended. A price's bands cover every length exactly once (checked where they are edited)."""

    price = models.ForeignKey(Price, on_delete=models.CASCADE, related_name="tiers")
    prompt_from = models.PositiveIntegerField(default=0, help_text="Prompt tokens, inclusive.")
    prompt_to = models.PositiveIntegerField(
        null=True, blank=True, help_text="Prompt tokens, exclusive; empty: no limit."
    )
    completion_from = models.PositiveIntegerField(
        default=0, help_text="Completion tokens, inclusive."
    )
    completion_to = models.PositiveIntegerField(
        null=True, blank=True, help_text="Completion tokens, exclusive; empty: no limit."
    )
    input_per_m = models.DecimalField(
        max_digits=18, decimal_places=6, default=0, help_text="¥ per million uncached input tokens."
    )
    cached_per_m = models.DecimalField(
        max_digits=18, decimal_places=6, default=0, help_text="¥ per million cache-hit tokens."
    )
    output_per_m = models.DecimalField(
        max_digits=18,
        decimal_places=6,
        default=0,
        help_text="¥ per million output tokens (thinking included).",
    )

    class Meta:
        ordering = ["price", "prompt_from", "completion_from"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(input_per_m__gte=0, cached_per_m__gte=0, output_per_m__gte=0),
                name="tier_rates_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        """ "input 32K–128K", "input 0–32K, output 0–0.2K", "any length"."""
        return bands.label(self)

    # Whole nano-yuan per million tokens: exact for the six decimal places the rates keep.
    @property
    def input_rate(self) -> int:
        return int(self.input_per_m * NANO_PER_YUAN)

    @property
    def cached_rate(self) -> int:
        return int(self.cached_per_m * NANO_PER_YUAN)

    @property
    def output_rate(self) -> int:
        return int(self.output_per_m * NANO_PER_YUAN)
