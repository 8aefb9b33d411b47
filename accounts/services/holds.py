"""Admission. A call is made only once its worst case (the prompt's estimated tokens plus
max_tokens, or its images) is held against what the team has available and what the member may still
spend. Available is the wallet after everything already committed (unsettled records, then holds) is
paid by the wallet's one rule; so is the member's month. Placing a hold locks the team's row
(SQLite's IMMEDIATE transactions lock the whole database), so calls racing for the last yuan are
admitted one after the other and the loser is refused, however many web processes they come
through."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import money
from accounts.models import Hold, Membership, Team, UsageRecord
from accounts.services.pricing import Charge, PriceBook
from accounts.services.usage import member_month_spend, usage_record
from accounts.services.wallet import Wallet
from bigmodel.catalogue import ModelSpec
from bigmodel.params import output_limit
from bigmodel.tokens import prompt_bound
from bigmodel.tools import search_engine_of
from bigmodel.usage import Asked, CallUsage


class SpendRefused(Exception):
    """A call the team or the member cannot pay for, in words for them. Nothing was sent
    upstream."""


class CapRefused(SpendRefused):
    """The member's monthly cap cannot take the call (the team might)."""


@dataclass(frozen=True)
class WorstCase:
    """A call about to be made, at its most expensive, in a usage record's terms."""

    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    images: int = 0
    size: str = ""
    quality: str = ""
    search_engine: str = ""
    searches: int = 0  # the web_search tool's, at most one per call
    created_at: datetime | None = None
    cached_tokens: int = 0  # a worst case counts no cache hits
    asked: Asked | None = None  # a chat call's, to estimate what it used should no usage come


def chat_worst_case(spec: ModelSpec, body: dict) -> WorstCase:
    """The most a chat call can cost: the prompt at its bound (no tokenizer counts more; never past
    the model's context, since a longer prompt is refused unbilled), every token max_tokens
    allows (unset: all the model may write), and the search's fee."""
    prompt = prompt_bound(body)
    if spec.context_tokens:
        prompt = min(prompt, spec.context_tokens)
    engine = search_engine_of(body)
    return WorstCase(
        model=spec.name,
        prompt_tokens=prompt,
        completion_tokens=body.get("max_tokens") or output_limit(spec),
        search_engine=engine,
        searches=1 if engine else 0,
        asked=Asked.of(body),
    )


@dataclass
class Standing:
    """A team's wallet once everything committed is paid: what a new call can still draw on."""

    wallet: Wallet
    held_nano: int
    held_calls: int
    unsettled_nano: int
    unsettled_calls: int

    @property
    def available_cash_nano(self) -> int:
        return self.wallet.cash_nano


def team_standing(*, team: Team) -> Standing:
    """The team's cash and packs after paying its unsettled records and then its holds, oldest
    first, each by the wallet's one rule (packs as they would really be drawn)."""
    # Holds are read before the records that replace them, and the records before the wallet
    # that settling them debits: a call that moves on between two reads is counted twice (a call
    # that might have fit is refused), never not at all. (A record is written without the team's
    # lock, so under PostgreSQL's read committed it can land between two reads.)
    holds = list(Hold.objects.filter(team=team).order_by("id"))
    # Every unsettled record, uncapped: while the worker runs there are a few seconds' worth, and
    # when it is down they are exactly what the wallet still owes; counting only some would
    # admit calls that nothing can pay.
    unsettled = list(
        UsageRecord.objects.filter(team=team, status=UsageRecord.Status.UNSETTLED).order_by("id")
    )
    wallet = Wallet.of(team)
    book = PriceBook()
    unsettled_nano = 0
    for record in unsettled:
        charge = book.charge(record)
        unsettled_nano += charge.cost_nano
        wallet.pay(record, charge)
    for hold in holds:
        wallet.pay(hold, book.worst_charge(hold))
    return Standing(
        wallet=wallet,
        held_nano=sum(hold.amount_nano for hold in holds),
        held_calls=len(holds),
        unsettled_nano=unsettled_nano,
        unsettled_calls=len(unsettled),
    )


def hold_place(
    *,
    membership: Membership,
    request_id: str,
    call: WorstCase,
    source: str = UsageRecord.Source.PLAYGROUND,
    api_key_id: int | None = None,
) -> Hold:
    """Hold ``call``'s worst case for the member's team, or raise SpendRefused. Call inside the
    transaction that saves the call, so a refused call leaves nothing behind."""
    now = timezone.now()
    call = WorstCase(**{**call.__dict__, "created_at": now})
    with transaction.atomic():
        book = PriceBook()
        if book.in_force(call.model, now, call.size, call.quality) is None:
            raise SpendRefused(_no_price(call))
        charge = book.worst_charge(call, now)
        team, cap = membership.team, membership.monthly_cap_nano
        if (cap is not None and charge.cost_nano) or team.billing == Team.Billing.PREPAID:
            # Something to check: under the team's lock, so racing calls are admitted one at a time.
            # NO KEY UPDATE: admissions and settlement of a team take turns; rows that only point
            # at the team (its messages, its usage records) are written meanwhile. (A cap or a
            # billing mode changed this very moment applies from the next call.)
            team = Team.objects.select_for_update(no_key=True).get(id=membership.team_id)
            if cap is not None and charge.cost_nano:
                _check_cap(team, membership, cap, charge.cost_nano, now)
            if team.billing == Team.Billing.PREPAID:
                _check_balance(team, call, charge)
        return Hold.objects.create(
            request_id=request_id,
            team=team,
            user_id=membership.user_id,
            model=call.model,
            source=source,
            prompt_tokens=call.prompt_tokens,
            completion_tokens=call.completion_tokens,
            images=call.images,
            size=call.size,
            quality=call.quality,
            search_engine=call.search_engine,
            searches=call.searches,
            api_key_id=api_key_id,
            asked=call.asked.to_dict() if call.asked else {},
            amount_nano=charge.cost_nano,
            created_at=now,
            expires_at=now + timedelta(seconds=settings.HOLD_MAX_SECONDS),
        )


def _check_cap(team: Team, membership: Membership, cap: int, cost: int, now: datetime) -> None:
    spent = member_month_spend(team=team, user=membership.user, now=now, with_holds=True)
    if spent + cost > cap:
        left = max(cap - spent, 0)
        raise CapRefused(
            f"This call could cost up to {money.yuan(cost)}, and you have {money.yuan(left)} left "
            f"of your monthly cap of {money.yuan(cap)} in {team.name} (calls in progress count). "
            "Lower max_tokens, or ask a team admin to raise the cap."
        )


def _no_price(call: WorstCase) -> str:
    what = ", ".join(filter(None, (call.size, call.quality)))
    return (
        f"{call.model}{f' ({what})' if what else ''} has no price in force, so a call to it "
        "cannot be billed and is not made. A site admin can add its price."
    )


def _check_balance(team: Team, call: WorstCase, charge: Charge) -> None:
    if not charge.cost_nano:
        return  # a free model
    standing = team_standing(team=team)
    available = standing.available_cash_nano
    payment = standing.wallet.pay(call, charge)
    if payment.cash_nano and standing.wallet.cash_nano < 0:
        held = (
            f", {money.yuan(standing.held_nano)} held for calls in progress"
            if standing.held_calls
            else ""
        )
        raise SpendRefused(
            f"{team.name} cannot cover this call: it could cost up to "
            f"{money.yuan(charge.cost_nano)}, and "
            f"{money.yuan(max(available, 0))} is available for {call.model} (cash "
            f"{money.yuan(team.cash_nano)}"
            f"{held}; no pack covers the rest). Top up, or lower max_tokens."
        )


def hold_release(*, request_id: str) -> None:
    """The call produced nothing to bill (refused upstream, failed before any output)."""
    Hold.objects.filter(request_id=request_id).delete()


def holds_expire(*, now: datetime | None = None) -> int:
    """Holds whose call died without a word (a crashed process), past their expiry. An API call's
    is recorded at its worst case, flagged estimated: its call reached BigModel, which bills it,
    and nothing else is left to record it. The others are released (the playground's sweeper
    finishes and bills its replies from what they had sent, long before)."""
    expired = Hold.objects.filter(expires_at__lte=now or timezone.now())
    api_calls = list(expired.filter(source=UsageRecord.Source.API))
    for hold in api_calls:
        usage_record(request_id=hold.request_id, used=_at_worst(hold))
    released, _ = expired.exclude(source=UsageRecord.Source.API).delete()
    return released + len(api_calls)


def _at_worst(hold: Hold) -> CallUsage:
    return CallUsage(
        prompt_tokens=hold.prompt_tokens,
        completion_tokens=hold.completion_tokens,
        images=hold.images,
        search_engine=hold.search_engine if hold.searches else "",
        exact=False,
    )
