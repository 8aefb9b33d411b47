"""Members' API keys for the console's own BigModel-compatible endpoint."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models.teams import Team


class ApiKey(models.Model):
    """A member's key, ``{key_id}.{secret}``, billing the team it was made in. The secret itself is
    never stored: a keyed hash finds a raw key, and the secret sealed with ``API_KEY_SECRET`` (from
    the environment, not the database) checks a JWT signed with it."""

    key_id = models.CharField(max_length=32, unique=True, help_text="The key's public part.")
    name = models.CharField(max_length=100)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="api_keys")
    secret_hash = models.CharField(max_length=64, help_text="Keyed hash of the secret.")
    sealed_secret = models.TextField(help_text="The secret, sealed with API_KEY_SECRET.")
    last4 = models.CharField(
        max_length=4, help_text="The secret's last characters, to tell keys apart."
    )

    class Period(models.TextChoices):
        DAY = "day"
        WEEK = "week"
        MONTH = "month"

    budget_nano = models.BigIntegerField(
        null=True, blank=True, help_text="The most its calls may cost per period; empty: no limit."
    )
    budget_period = models.CharField(max_length=8, choices=Period.choices, default=Period.MONTH)
    rpm = models.PositiveIntegerField(
        null=True, blank=True, help_text="Requests it may make per minute; empty: no limit."
    )
    concurrency = models.PositiveIntegerField(
        null=True, blank=True, help_text="Calls it may have in flight at once; empty: no limit."
    )
    models_allowed = models.JSONField(
        default=list, blank=True, help_text="The models it may call; empty: every model."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who revoked it (empty: a command, or its owner's account gone).",
    )
    revoked_because = models.CharField(
        max_length=200, blank=True, help_text="Why, when it was not revoked by hand."
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    # The secret before the last rotation, which works until previous_until (the grace picked).
    previous_secret_hash = models.CharField(max_length=64, blank=True)
    previous_sealed_secret = models.TextField(blank=True)
    previous_until = models.DateTimeField(null=True, blank=True)

    # Not columns: set where accounts.selectors.keys_for lists keys.
    spent_nano: int
    period_spent_nano: int

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.masked})"

    @property
    def masked(self) -> str:
        return self.mask(self.key_id, self.last4)

    @staticmethod
    def mask(key_id: str, last4: str) -> str:
        """ "3f2a…x9Q_": enough to tell keys apart, never enough to use one."""
        return f"{key_id[:4]}…{last4}"

    def refusal(self, now: datetime | None = None) -> str:
        """Why the key cannot be used now, in words; "" when it can."""
        now = now or timezone.now()
        if self.revoked_at is not None and self.revoked_at <= now:
            return (
                f"this API key was revoked on {timezone.localtime(self.revoked_at):%Y-%m-%d %H:%M}"
            )
        if self.expires_at is not None and self.expires_at <= now:
            return f"this API key expired on {timezone.localtime(self.expires_at):%Y-%m-%d %H:%M}"
        return ""

    def period_start(self, now: datetime | None = None) -> datetime:
        """When the budget's current period began: local midnight today, on Monday, or on the 1st
        (``TIME_ZONE``)."""
        today = timezone.localtime(now or timezone.now()).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        if self.budget_period == self.Period.DAY:
            return today
        if self.budget_period == self.Period.WEEK:
            return today - timedelta(days=today.weekday())
        return today.replace(day=1)

    def next_reset(self, now: datetime | None = None) -> datetime:
        start = self.period_start(now)
        if self.budget_period == self.Period.DAY:
            return start + timedelta(days=1)
        if self.budget_period == self.Period.WEEK:
            return start + timedelta(days=7)
        return (start + timedelta(days=32)).replace(day=1)

    def previous_works(self, now: datetime | None = None) -> bool:
        """Whether the secret before the last rotation is still in its grace period."""
        return self.previous_until is not None and self.previous_until > (now or timezone.now())

    def allows(self, model: str) -> bool:
        return not self.models_allowed or model in self.models_allowed
