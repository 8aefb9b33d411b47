from django.db import transaction

from accounts.models import ModelEntry
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
