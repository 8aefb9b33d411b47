"""The metered endpoint's admission and metering: the caller's key checked, the call's worst case
held for the key's team and member, and exactly one usage record once the upstream has answered
(source ``api``, the key), through the same ledger as the playground's."""

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from redis.exceptions import RedisError

from accounts.models import ApiKey, Hold, UsageRecord
from accounts.services.catalogue import catalogue_spec
from accounts.services.holds import CapRefused, SpendRefused, hold_place, hold_release
from accounts.services.keys import Caller, KeyRefused, key_authenticate, key_budget_problem
from accounts.services.usage import chat_usage_record, usage_record
from bigmodel.catalogue import ModelSpec
from bigmodel.client import ChatResult
from bigmodel.usage import Arrived, CallUsage
from gateway.calls import CHAT, EMBEDDINGS, Kind
from gateway.limits import NO_PLACE, LimitReached, Place, place_take
from runtime.kept import one_stamp
from runtime.locks import rows_lock

# BigModel's own words for the refusals the endpoint makes itself.
NO_MODEL = "模型不存在，请检查模型代码。"
BAD_PARAMS = "API 调用参数有误，请检查文档。"
NO_BALANCE = "余额不足或无可用资源包,请充值。"
KEY_BUDGET = "已达到该 API Key 的预算上限。"  # this key's budget is spent
MEMBER_CAP = "已达到您在该团队的月度额度。"  # the member's monthly cap in the team is reached
TOO_MANY = "当前API请求过多，请稍后重试。"
RATE_LIMITED = "您的账户已达到速率限制。"
LIMITS_DOWN = (
    "The console cannot count this key's requests just now (its Redis is down); try again shortly."
)


class Refused(Exception):
    """A call refused before anything was sent upstream: an HTTP status, a BigModel code and its
    words."""

    def __init__(self, status: int, code: int, message: str, retry_after: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after  # seconds, for a Retry-After header (0: none)


@dataclass(frozen=True)
class Admitted:
    """A call let through: who pays, the model, the body as it goes upstream, and the ledger's id
    for it (the caller's own request_id, if any, goes upstream untouched)."""

    caller: Caller
    spec: ModelSpec
    body: dict
    request_id: str
    place: Place = NO_PLACE  # among the key's calls in flight, given back when the call ends
    # What each step of admitting it took, in ms (the response's Server-Timing header).
    timings: dict[str, float] = field(default_factory=dict, compare=False)


class Stopwatch:
    """Laps in ms, by name: ``with watch("auth"): …``."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.laps[name] = (time.perf_counter() - started) * 1000


@one_stamp()  # the key, the catalogue and the prices as kept, checked against Redis once
def admit(authorization: str | None, raw_body: bytes, kind: Kind = CHAT) -> Admitted:
    """Limits before work: the key checked, then its rate and calls at once and the member's calls
    in flight, then the body read and checked, the model found and allowed, then the worst case
    held. Raises Refused."""
    watch = Stopwatch()
    with watch("auth"):
        try:
            caller = key_authenticate(authorization)
        except KeyRefused as refused:
            raise Refused(401, refused.code, refused.message) from None
    with watch("limits"):
        place = _place(caller.key)
    try:
        _check_in_flight(caller)  # once before the body's checks, again under the lock
        with watch("checks"):
            body = _body(raw_body)
            spec = _spec(caller, body["model"], kind)
            if problem := kind.problem(spec, body):
                raise Refused(400, 1214, f"{BAD_PARAMS} ({problem})")
        request_id = f"api-{uuid.uuid4().hex}"
        with watch("hold"), transaction.atomic():
            rows_lock(get_user_model().objects.filter(id=caller.key.user_id))
            _check_in_flight(caller)
            # The key's row locked: calls racing on one key are admitted one at a time.
            rows_lock(ApiKey.objects.filter(id=caller.key.id))
            hold_place(
                membership=caller.membership,
                request_id=request_id,
                call=kind.worst_case(spec, body),
                source=UsageRecord.Source.API,
                api_key_id=caller.key.id,
            )
            if problem := key_budget_problem(key=caller.key):
                raise KeyBudgetRefused(problem)  # the hold goes with the transaction
    except BaseException as failure:
        place.give_back()
        if isinstance(failure, SpendRefused):
            raise Refused(429, 1113, _spend_refusal(failure)) from None
        raise
    return Admitted(
        caller=caller, spec=spec, body=body, request_id=request_id, place=place, timings=watch.laps
    )


class KeyBudgetRefused(SpendRefused):
    """The key's own budget cannot take the call (the team might)."""


def _spend_refusal(refused: SpendRefused) -> str:
    """BigModel's words for an account that cannot pay, or words naming the budget that refused:
    the key's, or the member's cap (the same code, 1113, as BigModel gives a spent quota)."""
    if isinstance(refused, KeyBudgetRefused):
        return f"{KEY_BUDGET} ({refused})"
    if isinstance(refused, CapRefused):
        return f"{MEMBER_CAP} ({refused})"
    return f"{NO_BALANCE} ({refused})"


def _place(key: ApiKey) -> Place:
    try:
        return place_take(key)
    except LimitReached as full:
        raise Refused(429, 1302, f"{RATE_LIMITED} ({full})", retry_after=full.retry_after) from None
    except RedisError:
        raise Refused(503, 503, LIMITS_DOWN, retry_after=5) from None


def _check_in_flight(caller: Caller) -> None:
    """At most MAX_API_CALLS_PER_USER calls of a member's keys at once (the playground's replies
    have their own limit). Checked for the last time under the member's lock (NO KEY UPDATE, as
    a playground turn takes it), with the hold."""
    calls = Hold.objects.filter(user_id=caller.key.user_id, source=UsageRecord.Source.API).count()
    if calls >= settings.MAX_API_CALLS_PER_USER:
        raise Refused(
            429,
            1302,
            f"{TOO_MANY} ({calls} calls of your API keys are in flight; at most "
            f"{settings.MAX_API_CALLS_PER_USER} at once)",
        )


def _body(raw_body: bytes) -> dict:
    try:
        body = json.loads(raw_body or b"null")
    except (ValueError, RecursionError):
        raise Refused(400, 1214, f"{BAD_PARAMS} (the body is not JSON)") from None
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        raise Refused(400, 1214, f"{BAD_PARAMS} (model is missing)")
    return body


def _spec(caller: Caller, model: str, kind: Kind) -> ModelSpec:
    spec = catalogue_spec(model, kind.model_kinds)
    if spec is None:
        raise Refused(400, 1211, NO_MODEL)
    if not caller.key.allows(model):
        raise Refused(400, 1211, f"{NO_MODEL} ({model} is not among this API key's models)")
    return spec


def chat_record(admitted: Admitted, arrived: Arrived) -> UsageRecord | None:
    """The call's one usage record, in place of its hold (which says who pays, through which key),
    by the rule every chat call follows (:func:`accounts.services.usage.chat_usage_record`)."""
    return chat_usage_record(request_id=admitted.request_id, arrived=arrived)


def chat_answer_record(admitted: Admitted, answer: ChatResult) -> UsageRecord | None:
    return chat_record(admitted, answered(answer))


def answered(answer: ChatResult) -> Arrived:
    """What came back of a chat call answered whole (plain, or through the queue)."""
    return Arrived(
        usage=answer.usage,
        thinking=answer.reasoning_content,
        text=answer.content,
        tool_calls=answer.tool_calls,
        listed=bool(answer.raw.get("web_search")),
    )


def embeddings_record(admitted: Admitted, answer: dict) -> UsageRecord | None:
    """An embeddings call bills its input, as its answer counts it (else as held)."""
    counted = (answer.get("usage") or {}).get("prompt_tokens")
    if isinstance(counted, int) and not isinstance(counted, bool):
        used = CallUsage(prompt_tokens=counted)
    else:
        held = EMBEDDINGS.worst_case(admitted.spec, admitted.body).prompt_tokens
        used = CallUsage(prompt_tokens=held, exact=False)
    return usage_record(request_id=admitted.request_id, used=used)


def image_record(admitted: Admitted, answer: dict) -> UsageRecord | None:
    """The images the answer links to (BigModel makes one a call), of the size and quality held
    for."""
    links = answer.get("data")
    images = len(links) if isinstance(links, list) and links else 1
    return usage_record(request_id=admitted.request_id, used=CallUsage(images=images))


def call_release(admitted: Admitted) -> None:
    """Nothing was made (the upstream refused or failed first): nothing is billed."""
    try:
        hold_release(request_id=admitted.request_id)
    finally:
        admitted.place.give_back()
