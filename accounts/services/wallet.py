"""Money coming in: top-ups and packs; and packs running out of time."""

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import LedgerEntry, Pack, Team, TopUp
from accounts.services.alerts import balance_alerts


class WalletError(ValueError):
    pass


@transaction.atomic
def wallet_topup(*, team: Team, amount_nano: int, method: str = TopUp.Method.BANK, note: str = "", by=None) -> TopUp:
    """Add cash: the top-up, its ledger entry and the balance in one transaction; alerts the
    balance is back above re-arm (with a "recovered" notice)."""
    if amount_nano <= 0:
        raise WalletError("A top-up must be more than zero.")
    if method not in TopUp.Method.values:
        raise WalletError(f"“{method}” is not a payment method.")
    topup = TopUp.objects.create(team=team, amount_nano=amount_nano, method=method, note=note[:300], created_by=by)
    LedgerEntry.objects.create(team=team, kind=LedgerEntry.Kind.TOPUP, amount_nano=amount_nano, topup=topup)
    Team.objects.filter(id=team.id).update(cash_nano=F("cash_nano") + amount_nano)
    team.refresh_from_db(fields=["cash_nano"])
    balance_alerts(team=team)
    return topup


def pack_add(*, team: Team, name: str, size: int, expires_at, unit: str = Pack.Unit.TOKENS,
             kind: str = Pack.Kind.PURCHASED, models: list[str] | None = None, effective_at=None, by=None) -> Pack:
    """A pack of tokens (or money, in nano) for some models (or all), usable from ``effective_at``."""
    effective_at = effective_at or timezone.now()
    if size <= 0:
        raise WalletError("A pack must hold more than zero.")
    if expires_at <= effective_at:
        raise WalletError("A pack must expire after it starts.")
    return Pack.objects.create(team=team, name=name, size=size, remaining=size, unit=unit, kind=kind,
                               models_scope=sorted(set(models or [])), effective_at=effective_at,
                               expires_at=expires_at, created_by=by)


def packs_expire(*, now=None) -> int:
    """Mark packs past their expiry; they pay nothing more (what was left stays on record)."""
    return Pack.objects.filter(expired=False, expires_at__lte=now or timezone.now()).update(expired=True)
