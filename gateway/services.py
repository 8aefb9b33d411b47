"""The metered endpoint's admission and metering: the caller's key checked, the call's worst case
held for the key's team and member, and exactly one usage record once the upstream has answered
(source ``api``, the key), through the same ledger as the playground's."""

import json
import uuid
from dataclasses import dataclass

from django.db import transaction

from accounts.models import ModelEntry, UsageRecord
from accounts.services.holds import SpendRefused, chat_worst_case, hold_place, hold_release
from accounts.services.keys import Caller, KeyRefused, key_authenticate
from accounts.services.usage import usage_record
from bigmodel.catalogue import ModelSpec
from bigmodel.sse import Usage
from bigmodel.tokens import estimate_request_tokens, estimate_tokens
from bigmodel.tools import search_engine_of

# BigModel's own words for the refusals the endpoint makes itself.
NO_MODEL = "模型不存在，请检查模型代码。"
BAD_PARAMS = "API 调用参数有误，请检查文档。"
NO_BALANCE = "余额不足或无可用资源包,请充值。"


class Refused(Exception):
    """A call refused before anything was sent upstream: an HTTP status, a BigModel code and its
    words."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Admitted:
    """A call let through: who pays, the model, the body as it goes upstream, and the ledger's id
    for it (the caller's own request_id, if any, goes upstream untouched)."""

    caller: Caller
    spec: ModelSpec
    body: dict
    request_id: str


def admit_chat(authorization: str | None, raw_body: bytes) -> Admitted:
    """The key checked, the body read, the model found and allowed, the worst case held. Raises
    Refused."""
    try:
        caller = key_authenticate(authorization)
    except KeyRefused as refused:
        raise Refused(401, refused.code, refused.message) from None
    body = _body(raw_body)
    spec = _spec(caller, body["model"])
    request_id = f"api-{uuid.uuid4().hex}"
    try:
        with transaction.atomic():
            hold_place(
                membership=caller.membership,
                request_id=request_id,
                call=chat_worst_case(spec, body),
                source=UsageRecord.Source.API,
            )
    except SpendRefused as refused:
        raise Refused(429, 1113, f"{NO_BALANCE} ({refused})") from None
    return Admitted(caller=caller, spec=spec, body=body, request_id=request_id)


def _body(raw_body: bytes) -> dict:
    try:
        body = json.loads(raw_body or b"null")
    except (ValueError, RecursionError):
        raise Refused(400, 1214, f"{BAD_PARAMS} (the body is not JSON)") from None
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        raise Refused(400, 1214, f"{BAD_PARAMS} (model is missing)")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise Refused(400, 1214, f"{BAD_PARAMS} (messages must be a list of messages)")
    return body


def _spec(caller: Caller, model: str) -> ModelSpec:
    entry = ModelEntry.objects.chat().filter(name=model).first()
    if entry is None:
        raise Refused(400, 1211, NO_MODEL)
    if not caller.key.allows(model):
        raise Refused(400, 1211, f"{NO_MODEL} ({model} is not among this API key's models)")
    return entry.as_spec()


def chat_record(
    admitted: Admitted, usage: Usage | None, *, text: str = "", searched: bool = False
) -> UsageRecord:
    """The call's one usage record: the upstream's usage, or (none came: a stream cut short)
    counted here from the request and ``text``, what arrived, and flagged estimated."""
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
    hold_release(request_id=admitted.request_id)
