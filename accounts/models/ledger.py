"""Money. Amounts are integers in 10⁻⁹ yuan ("nano"); token rates are whole nano-yuan per million
tokens, so a call's cost is an exact integer sum, rounded once to the nano; no floats anywhere."""

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models.prices import Price
from accounts.models.teams import Team
from accounts.money import yuan


class UsageRecord(models.Model):
    """One upstream call as it will be billed: the ledger's source of truth. Written once, in the
    request path, keyed by the call's request_id, so a retry or a second delivery cannot count it
    twice. Settlement prices it (snapshotting the unit prices) and pays it from the team's
    wallet."""

    class Source(models.TextChoices):
        PLAYGROUND = "playground"
        API = "api"

    class Status(models.TextChoices):
        UNSETTLED = "unsettled"
        SETTLED = "settled"

    request_id = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The composite indexes below lead with these; single-column ones would only slow settlement.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="usage_records",
        db_index=False,
    )
    team = models.ForeignKey(
        Team, on_delete=models.PROTECT, related_name="usage_records", db_index=False
    )
    model = models.CharField(max_length=64)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.PLAYGROUND)
    prompt_tokens = models.PositiveIntegerField(default=0, help_text="Cache hits included.")
    cached_tokens = models.PositiveIntegerField(
        default=0, help_text="Of the prompt tokens, those the upstream's cache served."
    )
    completion_tokens = models.PositiveIntegerField(default=0, help_text="Thinking included.")
    reasoning_tokens = models.PositiveIntegerField(
        default=0, help_text="Of the completion tokens, the thinking."
    )
    images = models.PositiveIntegerField(default=0)
    size = models.CharField(max_length=16, blank=True, help_text="Image size, for per-size prices.")
    quality = models.CharField(max_length=16, blank=True, help_text="Image quality, likewise.")
    api_key = models.ForeignKey(
        "accounts.ApiKey",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The member's key the call came with (source api).",
    )
    # The web_search tool: BigModel bills each chat call that searched, by the engine it used.
    search_engine = models.CharField(max_length=32, blank=True)
    searches = models.PositiveSmallIntegerField(default=0)
    exact = models.BooleanField(
        default=True, help_text="False when the figures are an estimate (a stopped stream)."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UNSETTLED)
    settled_at = models.DateTimeField(null=True, blank=True)
    price = models.ForeignKey(
        Price, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    # What it was charged at (a snapshot): the tier, and nano-yuan per million tokens or per image.
    tier = models.CharField(max_length=80, blank=True)
    input_rate = models.BigIntegerField(default=0)
    cached_rate = models.BigIntegerField(default=0)
    output_rate = models.BigIntegerField(default=0)
    image_nano = models.BigIntegerField(default=0)
    search_nano = models.BigIntegerField(default=0, help_text="Per search.")
    cost_nano = models.BigIntegerField(default=0)
    packs_nano = models.BigIntegerField(default=0, help_text="Part of the cost paid from packs.")
    cash_nano = models.BigIntegerField(default=0, help_text="Part of the cost paid from cash.")
    held_nano = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="The worst case held when the call was admitted; empty: no hold.",
    )
    # The lengths that worst case was worked out from: which of them the upstream passed says why
    # a call cost more than was held.
    held_prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    held_completion_tokens = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "id"]),
            models.Index(fields=["team", "created_at"]),
            models.Index(fields=["team", "user", "created_at"]),
            # Not partial indexes: SQLite cannot match a partial index's condition to a bound
            # parameter.
            models.Index(fields=["team", "status", "price"], name="usage_team_status"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(cost_nano__gte=0, packs_nano__gte=0, cash_nano__gte=0),
                name="usage_amounts_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model} {self.request_id}"

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def uncached_tokens(self) -> int:
        return self.prompt_tokens - self.cached_tokens

    @property
    def over_hold_nano(self) -> int:
        """What the call cost beyond the worst case held for it (an upstream that used more than
        max_tokens allowed, or a prompt the estimate undercounted)."""
        return max(0, self.cost_nano - self.held_nano) if self.held_nano is not None else 0


class Hold(models.Model):
    """An admitted call's one record until it ends: who pays (team, member, key), through which
    path, for what model, what it asked and its worst case, placed before the call is made (what a
    team and a member have available counts it as spent). Its usage record takes its place, named
    by the request id alone (:func:`accounts.services.usage.usage_record` reads the rest here); a
    call that produced nothing releases it; the sweeper deals with one whose call died."""

    request_id = models.CharField(max_length=64, unique=True)
    # PROTECT: a call in flight is money the upstream may bill; its team, member and key stay
    # until its record (which names them) replaces the hold.
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="holds")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    model = models.CharField(max_length=64)
    source = models.CharField(
        max_length=16, choices=UsageRecord.Source.choices, default=UsageRecord.Source.PLAYGROUND
    )
    # The call's worst case, in the usage record's terms, so one rule prices and pays both.
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    images = models.PositiveIntegerField(default=0)
    size = models.CharField(max_length=16, blank=True)
    quality = models.CharField(max_length=16, blank=True)
    search_engine = models.CharField(max_length=32, blank=True)
    searches = models.PositiveSmallIntegerField(default=0)
    api_key = models.ForeignKey(
        "accounts.ApiKey", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cached_tokens = 0  # a worst case counts no cache hits
    asked = models.JSONField(
        default=dict, blank=True, help_text="What a chat call asked, to estimate what it used."
    )
    amount_nano = models.BigIntegerField(
        help_text="The worst case at the prices in force when placed."
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(
        help_text="After this the sweeper releases it (its call died)."
    )

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["team", "user"]), models.Index(fields=["expires_at"])]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_nano__gte=0), name="hold_not_negative")
        ]

    def __str__(self) -> str:
        return f"{self.model} {self.request_id}"


class Pack(models.Model):
    """Prepaid tokens (or money) that expire. Deduction: packs whose scope covers the model first,
    soonest-expiring first, then cash."""

    class Kind(models.TextChoices):
        PURCHASED = "purchased"
        GIFT = "gift"

    class Unit(models.TextChoices):
        TOKENS = "tokens"
        MONEY = "money"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="packs")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PURCHASED)
    unit = models.CharField(max_length=16, choices=Unit.choices, default=Unit.TOKENS)
    size = models.BigIntegerField(help_text="Tokens, or 10⁻⁹ yuan for a money pack.")
    remaining = models.BigIntegerField()
    models_scope = models.JSONField(
        default=list, blank=True, help_text="Model names it pays for; empty: all models."
    )
    effective_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    expired = models.BooleanField(
        default=False, help_text="Marked by the expiry job; an expired pack pays nothing."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["expires_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(remaining__gte=0, size__gt=0), name="pack_amounts_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(remaining__lte=models.F("size")), name="pack_remaining_le_size"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def covers(self, model: str) -> bool:
        return not self.models_scope or model in self.models_scope

    def usable_at(self, moment: datetime) -> bool:
        return (
            not self.expired
            and self.remaining > 0
            and self.effective_at <= moment < self.expires_at
        )


class TopUp(models.Model):
    class Method(models.TextChoices):
        BANK = "bank", "Bank transfer"
        ALIPAY = "alipay", "Alipay"
        WECHAT = "wechat", "WeChat Pay"
        CASH = "cash", "Cash"
        ADJUSTMENT = "adjustment", "Adjustment"
        OTHER = "other", "Other"

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="topups")
    amount_nano = models.BigIntegerField()
    method = models.CharField(max_length=16, choices=Method.choices, default=Method.BANK)
    note = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_nano__gt=0), name="topup_positive")
        ]

    def __str__(self) -> str:
        return f"{self.team}: +{yuan(self.amount_nano)}"


class LedgerEntry(models.Model):
    """Append-only movements of a team's money. Cash entries (no pack) sum to the cash balance;
    pack entries record what a pack paid (money, and tokens for a token pack)."""

    class Kind(models.TextChoices):
        USAGE = "usage"
        TOPUP = "topup"

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="ledger")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount_nano = models.BigIntegerField(help_text="Signed: a top-up adds, usage takes away.")
    tokens = models.BigIntegerField(default=0, help_text="Tokens taken from a token pack.")
    pack = models.ForeignKey(
        Pack, on_delete=models.PROTECT, null=True, blank=True, related_name="ledger"
    )
    usage = models.ForeignKey(
        UsageRecord, on_delete=models.PROTECT, null=True, blank=True, related_name="ledger"
    )
    topup = models.OneToOneField(
        TopUp, on_delete=models.PROTECT, null=True, blank=True, related_name="ledger"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["team", "created_at"])]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"{self.team} {self.kind} {yuan(self.amount_nano)}"


class DailyUsage(models.Model):
    """Settled usage per team, day (the team's local date), model and member: what the dashboard and
    bills read. Rebuilt from the ledger by the reconcile job, which reports any drift."""

    SUMS = (
        "calls",
        "prompt_tokens",
        "cached_tokens",
        "completion_tokens",
        "reasoning_tokens",
        "images",
        "cost_nano",
        "packs_nano",
        "cash_nano",
    )

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="daily_usage")
    day = models.DateField()
    model = models.CharField(max_length=64)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The API key its calls came with; none: the playground's.
    api_key = models.ForeignKey(
        "accounts.ApiKey", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    calls = models.PositiveIntegerField(default=0)
    prompt_tokens = models.BigIntegerField(default=0)
    cached_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    reasoning_tokens = models.BigIntegerField(default=0)
    images = models.BigIntegerField(default=0)
    cost_nano = models.BigIntegerField(default=0)
    packs_nano = models.BigIntegerField(default=0)
    cash_nano = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["day", "model"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "day", "model", "user"],
                condition=models.Q(api_key=None),
                name="one_rollup_row",
            ),
            models.UniqueConstraint(
                fields=["team", "day", "model", "user", "api_key"],
                condition=models.Q(api_key__isnull=False),
                name="one_rollup_row_per_key",
            ),
        ]
        indexes = [models.Index(fields=["team", "day"])]

    def __str__(self) -> str:
        return f"{self.team} {self.day} {self.model}"
