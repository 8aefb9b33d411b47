"""A team's wallet: the one rule of what pays for a call, money coming in (top-ups and packs), and
packs running out of time."""

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import LedgerEntry, Pack, Team, TopUp
from accounts.services.alerts import balance_alerts
from accounts.services.pricing import Billable, Charge


class WalletError(ValueError):
    pass


@dataclass(frozen=True)
class Share:
    """What one pack (or cash, with no pack) pays of a call."""

    pack: Pack | None
    amount_nano: int
    tokens: int = 0


@dataclass
class Payment:
    shares: list[Share] = field(default_factory=list)
    packs_nano: int = 0
    cash_nano: int = 0


def _by_expiry(pack: Pack) -> tuple[datetime, int]:
    return pack.expires_at, pack.id


class Wallet:
    """A team's cash and packs in memory, paid from call by call. ``pay`` is the one rule of what
    pays for a call, used alike by admission (on what is already committed, then the new call's
    worst case), by settlement and by the balance card: token packs whose scope covers the model,
    soonest-expiring first; then money packs the same way; then cash. Token packs never pay for
    images or searches: they pay tokens 1:1, and those have none."""

    def __init__(self, cash_nano: int, packs: list[Pack]) -> None:
        self.cash_nano = cash_nano
        self.packs = packs

    @classmethod
    def of(cls, team: Team) -> "Wallet":
        """The team's wallet as the database has it now."""
        cash = Team.objects.filter(id=team.id).values_list("cash_nano", flat=True).get()
        return cls(cash, list(Pack.objects.filter(team=team, expired=False, remaining__gt=0)))

    def paying_packs(self, call: Billable) -> list[Pack]:
        made = call.created_at
        assert made is not None  # a record's, a hold's, or a worst case's being held (holds)
        usable = [p for p in self.packs if p.covers(call.model) and p.usable_at(made)]
        tokens = [p for p in usable if p.unit == Pack.Unit.TOKENS]
        moneys = [p for p in usable if p.unit == Pack.Unit.MONEY]
        return sorted(tokens, key=_by_expiry) + sorted(moneys, key=_by_expiry)

    def pay(self, call: Billable, charge: Charge) -> Payment:
        """Pay ``call`` (a usage record, or a hold's worst case) at ``charge``: packs and cash are
        taken down in memory; what no pack covers comes from cash, which may go below zero."""
        payment, rest = Payment(), charge.cost_nano
        # Tokens 1:1, uncached input first, then cache hits, then output, each worth its rate.
        # So a token pack never pays for an image: an image has no tokens (BigModel bills it per
        # picture), and packs of tokens cover the tokens of the models they name.
        left = [call.prompt_tokens - call.cached_tokens, call.cached_tokens, call.completion_tokens]
        for pack in self.paying_packs(call) if rest else ():
            if pack.unit == Pack.Unit.TOKENS:
                after = list(left)
                taken = _take(after, pack.remaining)
                uncached, cached, completion = taken
                worth = charge.tokens_nano(uncached=uncached, cached=cached, completion=completion)
                if not worth:  # free tokens (a free model's call that searched): the pack is kept
                    continue
                left[:] = after
                tokens = sum(taken)
                amount = min(worth, rest)  # rounding per share never takes more than the call
                pack.remaining -= tokens
            else:
                tokens, amount = 0, min(pack.remaining, rest)
                pack.remaining -= amount
            if tokens or amount:
                payment.shares.append(Share(pack, amount, tokens))
                payment.packs_nano += amount
                rest -= amount
            if not rest:
                break
        if rest:
            self.cash_nano -= rest
            payment.cash_nano = rest
            payment.shares.append(Share(None, rest))
        return payment


def _take(left: list[int], room: int) -> list[int]:
    """Up to ``room`` tokens from ``left``, in its order; ``left`` is taken down."""
    taken = []
    for kind, tokens in enumerate(left):
        taken.append(min(room, tokens))
        room -= taken[-1]
        left[kind] -= taken[-1]
    return taken


@transaction.atomic
def wallet_topup(
    *,
    team: Team,
    amount_nano: int,
    method: str = TopUp.Method.BANK,
    note: str = "",
    by: User | None = None,
) -> TopUp:
    """Add cash: the top-up, its ledger entry and the balance in one transaction; alerts the
    balance is back above re-arm (with a "recovered" notice)."""
    if amount_nano <= 0:
        raise WalletError("A top-up must be more than zero.")
    if method not in TopUp.Method.values:
        raise WalletError(f"“{method}” is not a payment method.")
    topup = TopUp.objects.create(
        team=team, amount_nano=amount_nano, method=method, note=note[:300], created_by=by
    )
    LedgerEntry.objects.create(
        team=team, kind=LedgerEntry.Kind.TOPUP, amount_nano=amount_nano, topup=topup
    )
    Team.objects.filter(id=team.id).update(cash_nano=F("cash_nano") + amount_nano)
    team.refresh_from_db(fields=["cash_nano"])
    balance_alerts(team=team)
    return topup


def pack_add(
    *,
    team: Team,
    name: str,
    size: int,
    expires_at: datetime,
    unit: str = Pack.Unit.TOKENS,
    kind: str = Pack.Kind.PURCHASED,
    models: list[str] | None = None,
    effective_at: datetime | None = None,
    by: User | None = None,
) -> Pack:
    """A pack of tokens (or money, in nano) for some models (or all), usable from
    ``effective_at``."""
    effective_at = effective_at or timezone.now()
    if size <= 0:
        raise WalletError("A pack must hold more than zero.")
    if expires_at <= effective_at:
        raise WalletError("A pack must expire after it starts.")
    return Pack.objects.create(
        team=team,
        name=name,
        size=size,
        remaining=size,
        unit=unit,
        kind=kind,
        models_scope=sorted(set(models or [])),
        effective_at=effective_at,
        expires_at=expires_at,
        created_by=by,
    )


def packs_expire(*, now: datetime | None = None) -> int:
    """Mark packs past their expiry; they pay nothing more (what was left stays on record)."""
    return Pack.objects.filter(expired=False, expires_at__lte=now or timezone.now()).update(
        expired=True
    )
