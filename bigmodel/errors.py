"""Typed errors for everything that can go wrong talking to BigModel.

Errors are chosen by the **business code** in ``{"error": {"code": ..., "message": ...}}``, not by
the HTTP status: BigModel answers "balance exhausted" (1113) with HTTP 429, the same status it uses
for rate limits, and only the latter is worth retrying.

    BigModelError                 .code .http_status .upstream_message .retryable .title
    ├── ConfigurationError        bad key or base URL ("config")
    ├── AuthenticationError       1000–1005
    ├── AccountError              1100, 1110–1112, 1120, 1121, 1220, 1309, 1311
    │   └── InsufficientBalance   1113
    ├── ModelNotFound             1211, 1212, 1221, 1222
    ├── InvalidParameter          1210, 1213–1215, 1231–1233
    │   └── PromptTooLong         1261
    ├── UnsafeContent             1300, 1301 (.content_filter)
    ├── RateLimited               1302, 1303, 1305 (retryable); 1304, 1308, 1310, 1312, 1313 (not)
    ├── UpstreamFailure           500, 1200, 1230, 1234, 1260, unknown codes with 5xx
    └── UpstreamUnavailable       connect errors, timeouts, dropped streams ("network")
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

REDACTED = "***"
# Anything shaped like a JWT (base64url JSON header, payload, signature) is a credential.
_JWT_PATTERN = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_MAX_MESSAGE_CHARS = 500


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove the given secrets, and anything that looks like a JWT, from ``text``."""
    # Longest first, so a full "id.secret" key is replaced before its secret part.
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return _JWT_PATTERN.sub(REDACTED, text)


class BigModelError(Exception):
    """Base class. ``str()`` is a plain-English title, the code and a hint.

    ``upstream_message`` is what the server said (scrubbed of credentials); ``detail`` is our own
    extra context (e.g. "stream ended early"). ``partial_text`` is the reply text received before
    a stream failed, if any.
    """

    default_title: ClassVar[str] = "BigModel request failed"
    default_hint: ClassVar[str] = ""
    default_retryable: ClassVar[bool] = False
    default_code: ClassVar[str] = "unknown"

    def __init__(
        self,
        detail: str = "",
        *,
        code: str | None = None,
        http_status: int | None = None,
        upstream_message: str = "",
        retryable: bool | None = None,
        title: str | None = None,
        hint: str | None = None,
        partial_text: str = "",
    ) -> None:
        super().__init__(scrub(detail))
        self.detail = scrub(detail)
        self.code = code or self.default_code
        self.http_status = http_status
        self.upstream_message = scrub(upstream_message)
        self.retryable = self.default_retryable if retryable is None else retryable
        self.title = title or self.default_title
        self.hint = self.default_hint if hint is None else hint
        self.partial_text = partial_text

    def scrubbed(self, secrets: Iterable[str]) -> BigModelError:
        """Remove ``secrets`` from every message on this error, in place; returns self."""
        secrets = tuple(secrets)
        self.detail = scrub(self.detail, secrets)
        self.upstream_message = scrub(self.upstream_message, secrets)
        self.args = tuple(scrub(a, secrets) if isinstance(a, str) else a for a in self.args)
        return self

    def __str__(self) -> str:
        text = f"{self.title} ({self.code})"
        if self.detail:
            text += f": {self.detail}"
        if self.hint:
            text += f" — {self.hint}"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, http_status={self.http_status!r}, "
            f"retryable={self.retryable!r}, upstream_message={self.upstream_message!r})"
        )


class ConfigurationError(BigModelError):
    default_title = "BigModel is not configured correctly"
    default_code = "config"


class AuthenticationError(BigModelError):
    default_title = "Authentication failed"
    default_hint = "check the BigModel API key (ZHIPUAI_API_KEY)"


class AccountError(BigModelError):
    default_title = "BigModel account problem"
    default_hint = "check the account in the BigModel console"


class InsufficientBalance(AccountError):
    default_title = "Balance exhausted"
    default_hint = "top up your BigModel account"


class ModelNotFound(BigModelError):
    default_title = "Model not available"
    default_hint = "pick another model"


class InvalidParameter(BigModelError):
    default_title = "Invalid request parameter"


class PromptTooLong(InvalidParameter):
    default_title = "Prompt too long"
    default_hint = "shorten the conversation or start a new one"


class UnsafeContent(BigModelError):
    default_title = "Blocked by content moderation"
    default_hint = "rephrase the message"

    def __init__(
        self, detail: str = "", *, content_filter: list[dict] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(detail, **kwargs)
        self.content_filter: list[dict] = list(content_filter or [])


class RateLimited(BigModelError):
    default_title = "Rate limited"
    default_hint = "try again in a moment"
    default_retryable = True


class UpstreamFailure(BigModelError):
    default_title = "BigModel server error"
    default_hint = "try again in a moment"
    default_retryable = True


class UpstreamUnavailable(BigModelError):
    """Could not reach BigModel, it timed out, or the connection dropped."""

    default_title = "BigModel unreachable"
    default_hint = "try again in a moment"
    default_retryable = True
    default_code = "network"


# code -> (class, title, hint override, retryable override); None keeps the class default.
_CODES: dict[str, tuple[type[BigModelError], str, str | None, bool | None]] = {
    "500": (UpstreamFailure, "BigModel internal error", None, None),
    "1000": (AuthenticationError, "Authentication failed", None, None),
    "1001": (AuthenticationError, "Authorization header missing", None, None),
    "1002": (AuthenticationError, "Invalid API key or token", None, None),
    "1003": (AuthenticationError, "Token expired", None, None),
    "1004": (AuthenticationError, "Token verification failed", None, None),
    "1005": (AuthenticationError, "Second-factor authentication required", None, None),
    "1100": (AccountError, "Account read/write failed", None, None),
    "1110": (AccountError, "Account inactive", None, None),
    "1111": (AccountError, "Account does not exist", None, None),
    "1112": (AccountError, "Account locked", None, None),
    "1113": (InsufficientBalance, "Balance exhausted", None, None),
    "1120": (AccountError, "Account access failed", None, None),
    "1121": (AccountError, "Account locked for rule violations", None, None),
    "1200": (UpstreamFailure, "BigModel API call failed", None, None),
    "1210": (InvalidParameter, "Invalid request parameters", None, None),
    "1211": (ModelNotFound, "Model does not exist", None, None),
    "1212": (ModelNotFound, "Model does not support this call method", None, None),
    "1213": (InvalidParameter, "Required parameter missing", None, None),
    "1214": (InvalidParameter, "Invalid parameter", None, None),
    "1215": (InvalidParameter, "Conflicting parameters", None, None),
    "1220": (AccountError, "No permission for this API", None, None),
    "1221": (ModelNotFound, "API is offline", None, None),
    "1222": (ModelNotFound, "API does not exist", None, None),
    "1230": (UpstreamFailure, "BigModel processing error", None, None),
    "1231": (InvalidParameter, "Duplicate request_id", "", None),
    "1232": (InvalidParameter, "Fetch async results by task id", "", None),
    "1233": (InvalidParameter, "Async task does not exist", "", None),
    "1234": (UpstreamFailure, "BigModel network error", None, None),
    "1260": (UpstreamFailure, "BigModel runtime error", None, None),
    "1261": (PromptTooLong, "Prompt too long", None, None),
    "1300": (UnsafeContent, "Blocked by policy", None, None),
    "1301": (UnsafeContent, "Unsafe or sensitive content", None, None),
    "1302": (RateLimited, "Too many concurrent requests", None, None),
    "1303": (RateLimited, "Requests too frequent", None, None),
    "1304": (RateLimited, "Daily call limit reached", "try again tomorrow", False),
    "1305": (RateLimited, "Model overloaded", None, None),
    "1308": (RateLimited, "Usage cap reached", "wait for the quota to reset", False),
    "1310": (RateLimited, "Usage cap reached", "wait for the quota to reset", False),
    "1309": (AccountError, "Plan expired", "renew the plan, or use another key", False),
    "1311": (AccountError, "Model not in your plan", "pick a model your plan includes", False),
    "1312": (RateLimited, "Model overloaded", "try another model for now", False),
    "1313": (RateLimited, "Fair-use limit reached", "wait a while before trying again", False),
}
# 1308 / 1310 name the moment the cap resets ("将在 2026-12-01 20:00:00 重置").
_RESET_AT = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?")
_CAPS_THAT_RESET = ("1308", "1310")

# Used when the body carries no code we know: a reasonable guess from the HTTP status.
_STATUSES: dict[int, tuple[type[BigModelError], str, bool | None]] = {
    400: (InvalidParameter, "Bad request", None),
    401: (AuthenticationError, "Authentication failed", None),
    403: (AccountError, "Access denied", None),
    404: (BigModelError, "Not found", False),
    408: (UpstreamFailure, "Request timed out", None),
    429: (RateLimited, "Rate limited", None),
    503: (UpstreamFailure, "BigModel overloaded", None),
}


def error_from_response(
    status: int | None,
    body: bytes | str | Mapping[str, Any] | None,
    *,
    secrets: Iterable[str] = (),
) -> BigModelError:
    """Map an HTTP status and body (JSON or not) to the matching :class:`BigModelError`."""
    payload = _as_json_object(body)
    if payload is None:
        text = _as_text(body).strip()
        return _build(code=None, status=status, message=text, secrets=secrets)
    return error_from_payload(payload, status=status, secrets=secrets)


def error_from_payload(
    payload: Mapping[str, Any],
    *,
    status: int | None = None,
    secrets: Iterable[str] = (),
) -> BigModelError:
    """Map a decoded body such as ``{"error": {"code": "1113", "message": ...}}``."""
    error = payload.get("error")
    if isinstance(error, Mapping):
        code, message = error.get("code"), error.get("message")
    elif error is not None:
        code, message = None, error
    else:
        # The legacy v3 shape: {"code": 1214, "msg": "...", "success": false}.
        code, message = payload.get("code"), payload.get("msg") or payload.get("message")
    content_filter = payload.get("contentFilter") or payload.get("content_filter")
    return _build(
        code=_normalise_code(code),
        status=status,
        message="" if message is None else str(message),
        secrets=secrets,
        content_filter=content_filter if isinstance(content_filter, list) else None,
    )


def _build(
    *,
    code: str | None,
    status: int | None,
    message: str,
    secrets: Iterable[str],
    content_filter: list[dict] | None = None,
) -> BigModelError:
    cls, title, hint, retryable = _classify(code, status)
    if code in _CAPS_THAT_RESET and (reset := _RESET_AT.search(message)):
        hint = f"it resets at {reset.group(0)} (BigModel's time)"
    kwargs: dict[str, Any] = {
        "code": code or (str(status) if status else None),
        "http_status": status,
        "upstream_message": scrub(message[:_MAX_MESSAGE_CHARS], secrets),
        "retryable": retryable,
        "title": title,
        "hint": hint,
    }
    if issubclass(cls, UnsafeContent):
        kwargs["content_filter"] = content_filter
    return cls(**kwargs)


def _classify(
    code: str | None, status: int | None
) -> tuple[type[BigModelError], str, str | None, bool | None]:
    if code in _CODES:
        return _CODES[code]
    if status in _STATUSES:
        cls, title, retryable = _STATUSES[status]
        return cls, title, None, retryable
    if status is not None and status >= 500:
        return UpstreamFailure, "BigModel server error", None, None
    return BigModelError, "Unexpected response from BigModel", None, None


def _normalise_code(code: Any) -> str | None:
    if code is None or isinstance(code, bool):
        return None
    if isinstance(code, float) and code.is_integer():
        code = int(code)
    text = str(code).strip()
    return text or None


def _as_text(body: bytes | str | Mapping[str, Any] | None) -> str:
    if body is None:
        return ""
    if isinstance(body, bytes):
        return body.decode("utf-8", errors="replace")
    return str(body)


def _as_json_object(body: bytes | str | Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if isinstance(body, Mapping):
        return body
    text = _as_text(body).strip()
    if not text.startswith("{"):
        return None
    try:
        decoded = json.loads(text)
    except ValueError:
        return None
    return decoded if isinstance(decoded, Mapping) else None
