"""Members' API keys: made (shown once), revoked, and checked against what a caller presents, as
BigModel checks its own keys (a raw key, or a Zhipu JWT signed with its secret)."""

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from accounts import money
from accounts.models import ApiKey, Hold, Membership, Team, UsageRecord
from accounts.services.usage import unsettled_charges
from bigmodel.auth import (
    AUTH_FAILED,
    BAD_TOKEN,
    AuthRefused,
    Presented,
    check_presented,
    presented,
)
from runtime.kept import KeptEach, kept_changed

LAST_USED_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often per key


class KeyNotMade(Exception):
    """A key that cannot be made as asked, in words."""


class KeyRefused(Exception):
    """A caller's credentials refused as BigModel refuses them: 401 with a 1000-1004 code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _subkey(purpose: bytes) -> bytes:
    return hmac.new(settings.API_KEY_SECRET.encode(), purpose, hashlib.sha256).digest()


def _secret_hash(secret: str) -> str:
    return hmac.new(_subkey(b"api-key lookup"), secret.encode(), hashlib.sha256).hexdigest()


def _sealer() -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_subkey(b"api-key seal")))


@transaction.atomic
def key_create(
    *,
    user: User,
    team: Team,
    name: str,
    models: list[str] | None = None,
    expires_on: date | None = None,
    budget_nano: int | None = None,
    budget_period: str = ApiKey.Period.MONTH,
    rpm: int | None = None,
    concurrency: int | None = None,
) -> tuple[ApiKey, str]:
    """A new key for a member of ``team``, and the key itself (``{key_id}.{secret}``), which is
    shown once and kept nowhere. With ``expires_on`` it works to the end of that day, local time."""
    expires_at = timezone.make_aware(datetime.combine(expires_on, time.max)) if expires_on else None
    if not Membership.objects.filter(team=team, user=user).exists():
        raise KeyNotMade(f"{user.get_username()} is not a member of {team.name}.")
    if expires_at is not None and expires_at <= timezone.now():
        raise KeyNotMade("A key must expire in the future.")
    if budget_nano is not None and budget_nano <= 0:
        raise KeyNotMade("A budget must be more than zero (leave it empty for no limit).")
    if budget_period not in ApiKey.Period.values:
        raise KeyNotMade(f"A budget's period is a day, a week or a month (got “{budget_period}”).")
    if any(limit is not None and limit < 1 for limit in (rpm, concurrency)):
        raise KeyNotMade("Requests per minute and calls at once are 1 or more (empty: no limit).")
    key_id, secret = secrets.token_hex(16), _new_secret()
    key = ApiKey.objects.create(
        key_id=key_id,
        name=name.strip()[:100] or "API key",
        user=user,
        team=team,
        **_kept(secret),
        models_allowed=sorted(set(models or ())),
        expires_at=expires_at,
        budget_nano=budget_nano,
        budget_period=budget_period,
        rpm=rpm,
        concurrency=concurrency,
    )
    return key, f"{key_id}.{secret}"


def _new_secret() -> str:
    return secrets.token_urlsafe(24)


def _kept(secret: str) -> dict:
    """What the database keeps of a secret: a keyed hash to find it, the secret sealed to check a
    JWT signed with it, and its last characters to tell keys apart."""
    return {
        "secret_hash": _secret_hash(secret),
        "sealed_secret": _sealer().encrypt(secret.encode()).decode(),
        "last4": secret[-4:],
    }


# How long a rotated key's old secret may keep working, as the keys page offers it.
GRACES = {
    "0": ("not at all", timedelta(0)),
    "1h": ("1 more hour", timedelta(hours=1)),
    "1d": ("1 more day", timedelta(days=1)),
    "7d": ("7 more days", timedelta(days=7)),
}


@transaction.atomic
def key_rotate(*, key: ApiKey, grace: timedelta) -> tuple[ApiKey, str]:
    """A new secret for the key (its id, limits, budget and usage stay); the one it replaces
    works for ``grace`` more (none: refused at once). Returns the key and the new raw key, shown
    once."""
    key = ApiKey.objects.select_for_update().get(id=key.id)
    if key.refusal():
        raise KeyNotMade(f"{key} cannot be rotated: {key.refusal()}.")
    secret, until = _new_secret(), timezone.now() + grace
    key.previous_secret_hash, key.previous_sealed_secret = key.secret_hash, key.sealed_secret
    key.previous_until = until if grace > timedelta(0) else None
    for field, value in _kept(secret).items():
        setattr(key, field, value)
    key.save()
    return key, f"{key.key_id}.{secret}"


def key_period_spend(*, key: ApiKey, now: datetime | None = None, with_holds: bool = True) -> int:
    """What the key's calls of its budget's current period cost: settled, plus unsettled at the
    prices in force when each was made, plus (``with_holds``: what admission counts; alerts count
    only what was spent) the worst case of its calls in flight."""
    return keys_period_spend([key], now=now, with_holds=with_holds)[key.id]


def keys_period_spend(
    keys: Iterable[ApiKey], *, now: datetime | None = None, with_holds: bool = True
) -> dict[int, int]:
    """:func:`key_period_spend` of many keys by id, in a few queries for any number of them: keys
    of one period share its start (local midnight, Monday, the 1st)."""
    spend: dict[int, int] = {}
    by_start: dict[datetime, list[int]] = {}
    for key in keys:
        spend[key.id] = 0
        by_start.setdefault(key.period_start(now), []).append(key.id)
    # Read in the order calls move (held, recorded, settled): one that moves on between two reads
    # is counted twice, never missed.
    if with_holds:
        _add_by_key(spend, Hold.objects.filter(api_key_id__in=spend), "amount_nano")
    for start, ids in by_start.items():
        records = UsageRecord.objects.filter(api_key_id__in=ids, created_at__gte=start)
        for record, cost in unsettled_charges(records):
            spend[record.api_key_id] += cost  # type: ignore[index]  # never None: filtered on it
        _add_by_key(spend, records.filter(status=UsageRecord.Status.SETTLED), "cost_nano")
    return spend


def _add_by_key(
    spend: dict[int, int], rows: QuerySet[Hold] | QuerySet[UsageRecord], field: str
) -> None:
    for row in rows.order_by().values("api_key_id").annotate(total=Sum(field)):
        spend[row["api_key_id"]] += row["total"] or 0


def key_budget_problem(*, key: ApiKey) -> str:
    """Why the key's budget cannot take what it now holds, in words; "" when it can. Call after
    the new call's hold is placed, in its transaction, with the key's row locked."""
    if key.budget_nano is None:
        return ""
    spent = key_period_spend(key=key)
    if spent <= key.budget_nano:
        return ""
    return (
        f"this API key's budget is {money.yuan(key.budget_nano)} a {key.budget_period}; with this "
        f"call it would reach {money.yuan(spent)} (it resets "
        f"{timezone.localtime(key.next_reset()):%Y-%m-%d %H:%M})"
    )


def key_revoke(*, key: ApiKey, by: User | None = None) -> ApiKey:
    """From now on the key is refused; its usage stays on the bills. ``by``: who revoked it (None:
    a command)."""
    if key.revoked_at is None:
        key.revoked_at, key.revoked_by = timezone.now(), by
        key.save(update_fields=["revoked_at", "revoked_by"])
    return key


def keys_revoke_member(*, team: Team, user: User, by: User, because: str) -> int:
    """Revoke every key ``user`` has in ``team`` (they are leaving it): for good, so that being
    added again later brings none back. Returns how many were revoked."""
    revoked = ApiKey.objects.filter(team=team, user=user, revoked_at=None).update(
        revoked_at=timezone.now(), revoked_by=by, revoked_because=because[:200]
    )
    if revoked:
        kept_changed()  # an update sends no signal
    return revoked


@dataclass(frozen=True)
class Caller:
    """Who a call through the endpoint is for: the key, and the membership it bills."""

    key: ApiKey
    membership: Membership


def key_authenticate(header: str | None) -> Caller:
    """The key an Authorization value presents, checked as BigModel checks its keys, still usable,
    its member still in its team. Raises KeyRefused."""
    try:
        given = presented(header)
        found = _KEYS.get(given.key_id)
        if found is None:
            raise AuthRefused(1002, BAD_TOKEN)
        key, membership = found
        _check_secret(given, key)
    except AuthRefused as refused:
        raise KeyRefused(refused.code, refused.message) from None
    if why := key.refusal():
        raise KeyRefused(1000, f"{AUTH_FAILED} ({why})")
    if not key.user.is_active:
        raise KeyRefused(1000, f"{AUTH_FAILED} (the key's owner can no longer sign in)")
    if membership is None:
        raise KeyRefused(1000, f"{AUTH_FAILED} (the key's owner is no longer in {key.team.name})")
    _note_use(key)
    return Caller(key=key, membership=membership)


def _key_rows(key_id: str) -> tuple[ApiKey, Membership | None] | None:
    """The key with its team and member, and the member's membership of that team (None: they
    left it); None when there is no such key."""
    try:
        key = ApiKey.objects.select_related("team", "user").get(key_id=key_id)
    except ApiKey.DoesNotExist:
        return None
    try:
        membership = Membership.objects.get(team_id=key.team_id, user_id=key.user_id)
    except Membership.DoesNotExist:
        return key, None
    membership.team = key.team  # the row just read with the key
    return key, membership


# Read once per change of keys, members, teams or users (runtime.kept; accounts.signals): a key
# revoked, rotated or edited, a member gone or switched off, is refused from the next call on.
_KEYS = KeptEach(_key_rows)


def _check_secret(given: Presented, key: ApiKey) -> None:
    """The raw key's secret, or the JWT's signature, against the key's secret, or the one it
    replaced while that is in its grace period. Raises AuthRefused (the current secret's refusal
    when neither takes it)."""
    kept = [(key.secret_hash, key.sealed_secret)]
    if key.previous_works():
        kept.append((key.previous_secret_hash, key.previous_sealed_secret))
    if given.token is None:
        found = _secret_hash(given.secret or "")
        if not any(hmac.compare_digest(found, secret_hash) for secret_hash, _ in kept):
            raise AuthRefused(1000, AUTH_FAILED)
        return
    refusals = []
    for _, sealed in kept:
        try:
            return check_presented(given, _unsealed(sealed))
        except AuthRefused as refused:
            refusals.append(refused)
    raise refusals[0]


def _unsealed(sealed: str) -> str:
    try:
        return _sealer().decrypt(sealed.encode()).decode()
    except InvalidToken:  # sealed under another API_KEY_SECRET: the key cannot be checked
        raise AuthRefused(1000, AUTH_FAILED) from None


def _note_use(key: ApiKey) -> None:
    """At most once every LAST_USED_EVERY per key, whichever process sees its calls."""
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_EVERY:
        due = Q(last_used_at=None) | Q(last_used_at__lte=now - LAST_USED_EVERY)
        ApiKey.objects.filter(due, id=key.id).update(last_used_at=now)
        key.last_used_at = now  # the kept copy too (an update sends no signal)
