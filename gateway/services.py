"""The metered endpoint's admission and metering: the caller's key checked, the call's worst case
held for the key's team and member, and exactly one usage record once the upstream has answered
(source ``api``, the key), through the same ledger as the playground's."""

import json
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from redis.exceptions import RedisError

from accounts.models import ApiKey, Hold, ModelEntry, UsageRecord
from accounts.services.holds import SpendRefused, chat_worst_case, hold_place, hold_release
from accounts.services.keys import Caller, KeyRefused, key_authenticate, key_budget_problem
from accounts.services.usage import usage_record
from bigmodel.catalogue import ModelSpec
from bigmodel.sse import Usage
from bigmodel.tokens import estimate_request_tokens, estimate_tokens
from bigmodel.tools import search_engine_of, tools_problem, web_search_problem
from gateway.limits import NO_PLACE, LimitReached, Place, place_take

# BigModel's own words for the refusals the endpoint makes itself.
NO_MODEL = "模型不存在，请检查模型代码。"
BAD_PARAMS = "API 调用参数有误，请检查文档。"
NO_BALANCE = "余额不足或无可用资源包,请充值。"
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


def admit_chat(authorization: str | None, raw_body: bytes) -> Admitted:
    """The key checked, the body read and checked, the model found and allowed, the worst case
    held. Raises Refused."""
    try:
        caller = key_authenticate(authorization)
    except KeyRefused as refused:
        raise Refused(401, refused.code, refused.message) from None
    body = _body(raw_body)
    spec = _spec(caller, body["model"])
    if problem := _shape_problem(spec, body):
        raise Refused(400, 1214, f"{BAD_PARAMS} ({problem})")
    request_id = f"api-{uuid.uuid4().hex}"
    place = _place(caller.key)
    try:
        with transaction.atomic():
            _check_in_flight(caller)
            # The key's row locked: calls racing on one key are admitted one at a time.
            ApiKey.objects.select_for_update(no_key=True).filter(id=caller.key.id).first()
            hold_place(
                membership=caller.membership,
                request_id=request_id,
                call=chat_worst_case(spec, body),
                source=UsageRecord.Source.API,
                api_key_id=caller.key.id,
            )
            if problem := key_budget_problem(key=caller.key):
                raise SpendRefused(problem)  # the hold goes with the transaction
    except SpendRefused as refused:
        place.give_back()
        raise Refused(429, 1113, f"{NO_BALANCE} ({refused})") from None
    except BaseException:
        place.give_back()
        raise
    return Admitted(caller=caller, spec=spec, body=body, request_id=request_id, place=place)


def _place(key: ApiKey) -> Place:
    try:
        return place_take(key)
    except LimitReached as full:
        raise Refused(429, 1302, f"{RATE_LIMITED} ({full})", retry_after=full.retry_after) from None
    except RedisError:
        raise Refused(503, 503, LIMITS_DOWN, retry_after=5) from None


def _check_in_flight(caller: Caller) -> None:
    """At most MAX_API_CALLS_PER_USER calls of a member's keys at once, counted under the member's
    lock (NO KEY UPDATE, as a playground turn takes it)."""
    user_id = caller.key.user_id
    get_user_model().objects.select_for_update(no_key=True).filter(id=user_id).first()
    calls = Hold.objects.filter(user_id=user_id, source=UsageRecord.Source.API).count()
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


def _spec(caller: Caller, model: str) -> ModelSpec:
    entry = ModelEntry.objects.chat().filter(name=model).first()
    if entry is None:
        raise Refused(400, 1211, NO_MODEL)
    if not caller.key.allows(model):
        raise Refused(400, 1211, f"{NO_MODEL} ({model} is not among this API key's models)")
    return entry.as_spec()


# The chat API's fields (the official SDK's create()), and the tools the console can price.
FIELDS = {
    "model", "messages", "request_id", "user_id", "do_sample", "stream", "temperature", "top_p",
    "max_tokens", "seed", "stop", "sensitive_word_check", "tools", "tool_choice", "meta",
    "extra", "response_format", "thinking", "watermark_enabled", "tool_stream",
    "reasoning_effort",
}  # fmt: skip
TOOL_TYPES = ("function", "web_search")


def _shape_problem(spec: ModelSpec, body: dict) -> str:
    """What in the body the console cannot meter as it is (the upstream checks the rest)."""
    if unknown := sorted(set(body) - FIELDS):
        return f"unknown field {', '.join(unknown)}"
    if not isinstance(body.get("stream", False), bool):
        return "stream must be true or false"
    most = body.get("max_tokens", 1)
    if isinstance(most, bool) or not isinstance(most, int) or most < 1:
        return "max_tokens must be a whole number, 1 or more"
    return _messages_problem(body.get("messages")) or _tools_problem(spec, body.get("tools"))


def _messages_problem(messages) -> str:
    if not isinstance(messages, list) or not messages:
        return "messages must be a list of messages"
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            return "each message needs a role"
        content = message.get("content")
        parts = content if isinstance(content, list) else []
        if not (content is None or isinstance(content, str) or isinstance(content, list)):
            return "a message's content must be text or a list of parts"
        if not all(isinstance(p, dict) and isinstance(p.get("text", ""), str) for p in parts):
            return "each part of a message's content must be an object, its text text"
        if not isinstance(message.get("reasoning_content", ""), str):
            return "reasoning_content must be text"
        if not isinstance(message.get("tool_calls", []), list):
            return "tool_calls must be a list"
    return ""


def _tools_problem(spec: ModelSpec, tools) -> str:
    if tools is None:
        return ""
    if not isinstance(tools, list) or not all(isinstance(tool, dict) for tool in tools):
        return "tools must be a list of tools"
    if odd := sorted({str(t.get("type")) for t in tools} - set(TOOL_TYPES)):
        return f"the console offers no {', '.join(odd)} tool (only {', '.join(TOOL_TYPES)})"
    functions = [tool for tool in tools if tool["type"] == "function"]
    searches = [tool.get("web_search") for tool in tools if tool["type"] == "web_search"]
    if len(searches) > 1 or (searches and not isinstance(searches[0], dict)):
        return "one web_search tool, with its options as an object"
    return (tools_problem(spec, functions) if functions else "") or (
        web_search_problem(spec, searches[0]) if searches else ""
    )


def chat_record(
    admitted: Admitted, usage: Usage | None, *, text: str = "", searched: bool = False
) -> UsageRecord:
    """The call's one usage record: the upstream's usage, or (none came: a stream cut short)
    counted here from the request and ``text``, what arrived, and flagged estimated."""
    try:
        return _record(admitted, usage, text=text, searched=searched)
    finally:
        _give_back(admitted)


def _record(admitted: Admitted, usage: Usage | None, *, text: str, searched: bool) -> UsageRecord:
    key = admitted.caller.key
    engine = search_engine_of(admitted.body) if searched else ""
    if usage is None:
        prompt = estimate_request_tokens(admitted.body, searched=searched)
        usage = Usage(prompt_tokens=prompt, completion_tokens=estimate_tokens(text), total_tokens=0)
        exact = False
    else:
        exact = True
    return usage_record(
        request_id=admitted.request_id,
        user_id=key.user_id,
        team_id=key.team_id,
        model=admitted.spec.name,
        prompt_tokens=usage.prompt_tokens,
        cached_tokens=usage.cached_tokens,
        completion_tokens=usage.completion_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        search_engine=engine,
        searches=int(searched),
        exact=exact,
        source=UsageRecord.Source.API,
        api_key_id=key.id,
    )


def chat_release(admitted: Admitted) -> None:
    """Nothing was made (the upstream refused or failed first): nothing is billed."""
    try:
        hold_release(request_id=admitted.request_id)
    finally:
        _give_back(admitted)


def _give_back(admitted: Admitted) -> None:
    try:
        admitted.place.give_back()
    except RedisError:
        pass  # the place expires by itself
