from django.conf import settings
from django.db import models
from django.utils import timezone

from bigmodel.catalogue import ModelSpec


class ModelEntryQuerySet(models.QuerySet):
    def chat(self):
        return self.filter(kind__in=("chat", "vision"), enabled=True)

    def images(self):
        return self.filter(kind="image", enabled=True)


class ModelEntry(models.Model):
    """One model of the catalogue, loaded from bigmodel/catalogue.json and editable in the admin."""

    class Kind(models.TextChoices):
        CHAT = "chat"
        VISION = "vision"
        IMAGE = "image"
        EMBEDDING = "embedding"

    name = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    label = models.CharField(max_length=128)
    deprecated = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True, help_text="Offered in the app.")
    spec = models.JSONField(help_text="Limits, ranges and defaults; see bigmodel/catalogue.json.")
    position = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ModelEntryQuerySet.as_manager()

    class Meta:
        ordering = ["deprecated", "position", "name"]
        verbose_name = "model"
        verbose_name_plural = "model catalogue"

    def __str__(self) -> str:
        return self.name

    def as_spec(self) -> ModelSpec:
        return ModelSpec.from_dict({**self.spec, "name": self.name, "kind": self.kind,
                                    "label": self.label, "deprecated": self.deprecated})


class UsageRecord(models.Model):
    """One upstream call as it will be billed: the ledger's source of truth. Written once, in the
    request path, keyed by the call's request_id, so a retry or a second delivery cannot count it
    twice."""

    class Source(models.TextChoices):
        PLAYGROUND = "playground"
        API = "api"

    request_id = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                             related_name="usage_records")
    model = models.CharField(max_length=64)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.PLAYGROUND)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    images = models.PositiveIntegerField(default=0)
    exact = models.BooleanField(default=True, help_text="False when the figures are an estimate (a stopped stream).")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.model} {self.request_id}"
