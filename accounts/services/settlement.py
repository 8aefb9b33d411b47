"""Settlement: price unsettled usage records, pay them from the team's wallet (token packs whose
scope covers the model, soonest-expiring first; then money packs the same way; then cash), write
the ledger, bump the daily rollups and evaluate alerts — in one transaction per batch. A record is
claimed by the batch that settles it, so settling twice changes nothing."""

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any, cast

from django.db import connection, transaction
from django.db.models import Field, Model, Sum
from django.utils import timezone
from redis.exceptions import RedisError

from accounts.models import DailyUsage, LedgerEntry, Pack, Team, UsageRecord
from accounts.services.alerts import alerts_after_settlement
from accounts.services.pricing import Charge, PriceBook
from accounts.services.wallet import Payment, Wallet
from runtime import keys, streams

log = logging.getLogger("accounts")

BATCH = 1000
ANNOUNCE_TTL_SECONDS = 600
ROLLUP_FIELDS = DailyUsage.SUMS

# A batch's sums per daily row: (team id, local day, model, user id, API key id or None) → each
# of ROLLUP_FIELDS.
RollupKey = tuple[int, date, str, int, int | None]
Rollups = defaultdict[RollupKey, dict[str, int]]


def _rollup_key(row: DailyUsage) -> RollupKey:
    return (row.team_id, row.day, row.model, row.user_id, row.api_key_id)


def _rollup_row(key: RollupKey, sums: dict[str, int]) -> DailyUsage:
    team_id, day, model, user_id, api_key_id = key
    return DailyUsage(
        team_id=team_id, day=day, model=model, user_id=user_id, api_key_id=api_key_id, **sums
    )


def _claim(limit: int) -> list[UsageRecord]:
    # PostgreSQL: rows locked, and another worker's batch skips them. SQLite: the transaction
    # holds the database's write lock from its start (transaction_mode IMMEDIATE).
    claimed = UsageRecord.objects.filter(status=UsageRecord.Status.UNSETTLED).order_by("id")
    return list(claimed.select_for_update(skip_locked=True)[:limit])


def usage_settle_pending(*, limit: int = BATCH) -> list[UsageRecord]:
    """Settle up to ``limit`` unsettled records, oldest first; returns them (empty: nothing to
    do)."""
    with transaction.atomic():
        records = _claim(limit)
        if not records:
            return []
        team_ids = {record.team_id for record in records}
        # NO KEY UPDATE: a team's row is locked against other money changes, not against rows that
        # merely point at it (a message or a usage record being written for the team).
        locked = Team.objects.select_for_update(no_key=True).filter(id__in=team_ids).order_by("id")
        teams = {team.id: team for team in locked}
        packs = defaultdict(list)
        for pack in Pack.objects.select_for_update().filter(
            team_id__in=team_ids, expired=False, remaining__gt=0
        ):
            packs[pack.team_id].append(pack)
        wallets = {
            team_id: Wallet(team.cash_nano, packs[team_id]) for team_id, team in teams.items()
        }
        book, now = PriceBook(), timezone.now()
        entries: list[LedgerEntry] = []
        rollups: Rollups = defaultdict(lambda: dict.fromkeys(ROLLUP_FIELDS, 0))
        for record in records:
            charge = book.charge(record)
            payment = wallets[record.team_id].pay(record, charge)
            _settled(record, charge, payment, now)
            entries += [
                LedgerEntry(
                    team_id=record.team_id,
                    kind=LedgerEntry.Kind.USAGE,
                    amount_nano=-share.amount_nano,
                    tokens=share.tokens,
                    pack=share.pack,
                    usage=record,
                )
                for share in payment.shares
            ]
            _add_to_rollup(rollups, record)
        _save_settled(records, now)
        _insert_entries(entries, now)
        for pack in (p for team_packs in packs.values() for p in team_packs):
            Pack.objects.filter(id=pack.id).update(remaining=pack.remaining)
        for team_id, wallet in wallets.items():
            teams[team_id].cash_nano = wallet.cash_nano
            Team.objects.filter(id=team_id).update(cash_nano=wallet.cash_nano)
        _bump_rollups(rollups)
        alerts_after_settlement(teams=list(teams.values()), records=records)
        transaction.on_commit(lambda: announce_settled(records))
    return records


# What a page waiting for a call's cost shows of its settlement: announced with it, so that the
# page reads nothing again.
SETTLED_SHOWN = ("cost_nano", "cash_nano", "packs_nano", "search_nano", "price_id")


def announce_settled(records: list[UsageRecord]) -> None:
    try:
        streams.append_all(
            (
                (keys.call_settled(record.request_id), _settled_figures(record))
                for record in records
            ),
            keep_seconds=ANNOUNCE_TTL_SECONDS,
        )
    except RedisError as error:  # pages show the cost on their next load instead
        log.warning("could not announce settled costs: %s", type(error).__name__)


def _settled_figures(record: UsageRecord) -> dict[str, str]:
    return {
        name: "" if (value := getattr(record, name)) is None else str(value)
        for name in SETTLED_SHOWN
    }


def settled_as_announced(record: UsageRecord, figures: Mapping[str, str]) -> bool:
    """``record``, read before it was settled, made as its announcement says it was settled;
    False (and ``record`` unchanged) when ``figures`` are not such an announcement."""
    if set(figures) != set(SETTLED_SHOWN):
        return False
    for name in SETTLED_SHOWN:
        setattr(record, name, int(figures[name]) if figures[name] else None)
    record.status = UsageRecord.Status.SETTLED
    return True


# Batches are written with executemany: bulk_update's CASE expressions and bulk_create's single
# huge statement cost far more than the database work at a thousand rows a batch.

SETTLED_FIELDS = (
    "status",
    "settled_at",
    "price_id",
    "tier",
    "input_rate",
    "cached_rate",
    "output_rate",
    "image_nano",
    "search_nano",
    "cost_nano",
    "packs_nano",
    "cash_nano",
)
ENTRY_FIELDS = ("team_id", "kind", "amount_nano", "tokens", "pack_id", "usage_id", "created_at")


def _table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _field(model: type[Model], name: str) -> "Field[Any, Any]":
    """One of the model's columns' fields (django-stubs cannot tell from a name it is not a
    relation's)."""
    return cast("Field[Any, Any]", model._meta.get_field(name))


def _columns(model: type[Model], names: Iterable[str]) -> list[str]:
    # A concrete field's column is always set.
    return [connection.ops.quote_name(cast(str, _field(model, name).column)) for name in names]


def _executemany(sql: str, rows: list) -> None:
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _db_time(model: type[Model], moment: datetime) -> Any:  # what the backend stores
    return _field(model, "created_at").get_db_prep_value(moment, connection)


def _save_settled(records: list[UsageRecord], now: datetime) -> None:
    sets = ", ".join(f"{column} = %s" for column in _columns(UsageRecord, SETTLED_FIELDS))
    settled_at = _db_time(UsageRecord, now)
    rows = [
        [settled_at if name == "settled_at" else getattr(record, name) for name in SETTLED_FIELDS]
        + [record.id]
        for record in records
    ]
    _executemany(f"UPDATE {_table(UsageRecord)} SET {sets} WHERE id = %s", rows)


def _insert_entries(entries: list[LedgerEntry], now: datetime) -> None:
    columns = ", ".join(_columns(LedgerEntry, ENTRY_FIELDS))
    created_at = _db_time(LedgerEntry, now)
    rows = [
        [created_at if name == "created_at" else getattr(entry, name) for name in ENTRY_FIELDS]
        for entry in entries
    ]
    placeholders = ", ".join(["%s"] * len(ENTRY_FIELDS))
    _executemany(f"INSERT INTO {_table(LedgerEntry)} ({columns}) VALUES ({placeholders})", rows)


def _settled(record: UsageRecord, charge: Charge, payment: Payment, now: datetime) -> None:
    record.status, record.settled_at, record.price = UsageRecord.Status.SETTLED, now, charge.price
    record.tier, record.image_nano = charge.tier_label, charge.image_nano
    record.search_nano = charge.search_nano
    record.input_rate, record.cached_rate, record.output_rate = (
        charge.input_rate,
        charge.cached_rate,
        charge.output_rate,
    )
    record.cost_nano, record.packs_nano, record.cash_nano = (
        charge.cost_nano,
        payment.packs_nano,
        payment.cash_nano,
    )


def _add_to_rollup(rollups: Rollups, record: UsageRecord) -> None:
    day = timezone.localdate(record.created_at)
    row = rollups[(record.team_id, day, record.model, record.user_id, record.api_key_id)]
    row["calls"] += 1
    for name in ROLLUP_FIELDS[1:]:  # the record's own fields of the same names
        row[name] += getattr(record, name)


def _bump_rollups(rollups: Rollups) -> None:
    """Add the batch's sums to the daily rows: the existing ones in one executemany, new ones in one
    insert (a batch touches a few dozen rows; a round trip each would cost more than the batch)."""
    team_ids = {key[0] for key in rollups}
    days = {key[1] for key in rollups}
    existing = {
        _rollup_key(row): row.id
        for row in DailyUsage.objects.filter(team_id__in=team_ids, day__in=days).only(
            "id", "team_id", "day", "model", "user_id", "api_key_id"
        )
    }
    updates = [
        [*(sums[name] for name in ROLLUP_FIELDS), existing[key]]
        for key, sums in rollups.items()
        if key in existing
    ]
    if updates:
        sets = ", ".join(
            f"{column} = {column} + %s" for column in _columns(DailyUsage, ROLLUP_FIELDS)
        )
        _executemany(f"UPDATE {_table(DailyUsage)} SET {sets} WHERE id = %s", updates)
    DailyUsage.objects.bulk_create(
        _rollup_row(key, sums) for key, sums in rollups.items() if key not in existing
    )


def rollups_reconcile() -> dict[str, int]:
    """Rebuild the daily rollups from the settled records, and report how far they had drifted."""
    with transaction.atomic():
        truth: Rollups = defaultdict(lambda: dict.fromkeys(ROLLUP_FIELDS, 0))
        for record in (
            UsageRecord.objects.filter(status=UsageRecord.Status.SETTLED)
            .only("team_id", "created_at", "model", "user_id", "api_key_id", *ROLLUP_FIELDS[1:])
            .iterator(chunk_size=5000)
        ):
            _add_to_rollup(truth, record)
        stored = {_rollup_key(row): row for row in DailyUsage.objects.all()}
        drift = [
            key
            for key in truth.keys() | stored.keys()
            if truth.get(key)
            != (
                {name: getattr(stored[key], name) for name in ROLLUP_FIELDS}
                if key in stored
                else None
            )
        ]
        if drift:
            log.warning("rollups drifted from the ledger in %d rows; rebuilt", len(drift))
            DailyUsage.objects.all().delete()
            DailyUsage.objects.bulk_create(_rollup_row(key, sums) for key, sums in truth.items())
    return {"rows": len(truth), "drifted": len(drift)}


def cash_drift() -> dict[int, int]:
    """Teams whose cash balance differs from the sum of their cash ledger entries (should be
    none)."""
    sums = dict(
        LedgerEntry.objects.filter(pack=None)
        .values_list("team_id")
        .annotate(total=Sum("amount_nano"))
    )
    return {
        team.id: team.cash_nano - sums.get(team.id, 0)
        for team in Team.objects.all()
        if team.cash_nano != sums.get(team.id, 0)
    }
