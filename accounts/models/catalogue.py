from typing import Self

from django.db import models

from bigmodel.catalogue import ModelSpec

CHAT_KINDS = ("chat", "vision")  # the kinds of model a chat call takes
IMAGE_KINDS = ("image",)


class ModelEntryQuerySet(models.QuerySet):
    def offered(self, kinds: tuple[str, ...]) -> Self:
        """The enabled models of ``kinds`` that are offered now, with a price in force (the rule
        is accounts.services.catalogue's, read from what it keeps; the rows' own columns are read
        here as they are now)."""
        from accounts.services.catalogue import offered_names  # it imports these models

        return self.filter(kind__in=kinds, enabled=True, name__in=offered_names(kinds))

    def chat(self) -> Self:
        return self.offered(CHAT_KINDS)

    def images(self) -> Self:
        return self.offered(IMAGE_KINDS)


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
    loaded = models.JSONField(
        default=dict, editable=False, help_text="The file's entry as last loaded."
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = ModelEntryQuerySet.as_manager()

    class Meta:
        ordering = ["deprecated", "position", "name"]
        verbose_name = "model"
        verbose_name_plural = "model catalogue"

    def __str__(self) -> str:
        return self.name

    def as_spec(self) -> ModelSpec:
        return ModelSpec.from_dict(
            {
                **self.spec,
                "name": self.name,
                "kind": self.kind,
                "label": self.label,
                "deprecated": self.deprecated,
            }
        )
