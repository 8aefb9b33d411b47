"""Alerts as a state machine: a balance rule fires once when the balance crosses below its threshold
and re-arms (with a "recovered" notice) when a top-up lifts it back. Every send is a row written
before it is attempted and claimed once, so racing workers cannot send it twice."""

from urllib.parse import urlsplit

from django.db import models

from accounts.models.teams import Team
from accounts.money import yuan


class AlertRule(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="alert_rules")
    threshold_nano = models.BigIntegerField(
        help_text="Alert when the cash balance falls below this (10⁻⁹ yuan)."
    )
    armed = models.BooleanField(
        default=True, help_text="False after firing, until the balance is back above."
    )
    crossings = models.PositiveIntegerField(default=0, help_text="How many times it has fired.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-threshold_nano"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "threshold_nano"], name="one_rule_per_threshold"
            )
        ]

    def __str__(self) -> str:
        return f"{self.team} below {yuan(self.threshold_nano)}"


class AlertChannel(models.Model):
    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook (generic JSON)"
        FEISHU = "feishu", "Feishu"
        DINGTALK = "dingtalk", "DingTalk"
        WECOM = "wecom", "WeCom"
        SLACK = "slack", "Slack"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="alert_channels")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    label = models.CharField(
        max_length=60, blank=True, help_text="A name to tell channels apart (“ops on call”)."
    )
    target = models.CharField(max_length=500, help_text="An email address, or the webhook's URL.")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        where = f"{self.get_kind_display()}: {self.masked_target}"
        return f"{self.label} ({where})" if self.label else where

    @property
    def masked_target(self) -> str:
        """Enough to tell channels apart, not enough to use one: a webhook's URL is its password."""
        if self.kind == self.Kind.EMAIL:
            name, _, domain = self.target.partition("@")
            return f"{name[:1]}…@{domain}"
        parts = urlsplit(self.target)
        return f"{parts.scheme}://{parts.hostname}/…{self.target[-4:]}"


class AlertSend(models.Model):
    """One notice to one channel. ``key`` names the event (e.g. ``balance:7:3:fired``); the unique
    (channel, key) pair is what makes a second send of the same event impossible."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        SENT = "sent"
        FAILED = "failed"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="alert_sends")
    channel = models.ForeignKey(AlertChannel, on_delete=models.CASCADE, related_name="sends")
    key = models.CharField(max_length=120)
    event = models.CharField(max_length=32)
    subject = models.CharField(max_length=200)
    text = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "key"], name="one_send_per_event")
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.channel} ({self.status})"
