from django.db import transaction

from accounts.models import ModelEntry, UsageRecord
from bigmodel.catalogue import catalogue_entries


@transaction.atomic
def catalogue_load(*, entries: list[dict] | None = None) -> tuple[int, int]:
    """Upsert the catalogue's models; returns (created, updated). `enabled` is the admin's to keep."""
    created = updated = 0
    for position, entry in enumerate(entries if entries is not None else catalogue_entries()):
        _, was_created = ModelEntry.objects.update_or_create(
            name=entry["name"],
            defaults={
                "kind": entry["kind"],
                "label": entry.get("label", entry["name"]),
                "deprecated": entry.get("deprecated", False),
                "spec": entry,
                "position": position,
            },
        )
        created += was_created
        updated += not was_created
    return created, updated


def usage_record(*, request_id: str, user, model: str, prompt_tokens: int = 0, completion_tokens: int = 0,
                 images: int = 0, exact: bool = True,
                 source: str = UsageRecord.Source.PLAYGROUND) -> UsageRecord:
    """Record one upstream call. Idempotent on request_id: a second call returns the first record."""
    record, _ = UsageRecord.objects.get_or_create(
        request_id=request_id,
        defaults={"user": user, "model": model, "source": source, "prompt_tokens": prompt_tokens,
                  "completion_tokens": completion_tokens, "images": images, "exact": exact},
    )
    return record
