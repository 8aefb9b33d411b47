"""Row locks held to the end of the transaction, so that admissions racing on one row take turns."""

from django.db import connections
from django.db.models import QuerySet


def rows_lock(rows: QuerySet, *, no_key: bool = True) -> None:
    """Lock ``rows`` (FOR NO KEY UPDATE unless ``no_key`` is False: rows pointing at them stay
    writable). SQLite has no row locks and needs none: its IMMEDIATE transactions already hold the
    whole database, so nothing is asked of it."""
    if connections[rows.db].features.has_select_for_update:
        list(rows.select_for_update(no_key=no_key).values_list("pk", flat=True))
