"""API keys and the short-lived JWTs BigModel accepts in the ``Authorization`` header."""

from __future__ import annotations

import hmac
import math
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeGuard

import jwt

from .errors import ConfigurationError

DEFAULT_TTL_SECONDS = 210
DEFAULT_RENEW_AFTER_SECONDS = 180
_JWT_HEADERS = {"alg": "HS256", "sign_type": "SIGN"}


@dataclass(frozen=True, repr=False)
class ApiKey:
    """A BigModel key, ``"{id}.{secret}"``. Its repr never shows the secret."""

    id: str
    secret: str

    @classmethod
    def parse(cls, raw: str) -> ApiKey:
        # The messages below describe the shape only: the raw value must never be echoed.
        if not isinstance(raw, str) or not raw.strip():
            raise ConfigurationError("no API key given; set ZHIPUAI_API_KEY")
        parts = raw.strip().split(".")
        if len(parts) != 2:
            raise ConfigurationError(
                "the API key must look like '<id>.<secret>' with exactly one dot"
            )
        key_id, secret = parts
        if not key_id or not secret:
            raise ConfigurationError(
                "the API key must look like '<id>.<secret>' with both parts non-empty"
            )
        return cls(id=key_id, secret=secret)

    @property
    def raw(self) -> str:
        return f"{self.id}.{self.secret}"

    @property
    def sensitive_values(self) -> tuple[str, ...]:
        """Strings that must be scrubbed from anything we log or raise."""
        return (self.raw, self.secret)

    def __repr__(self) -> str:
        return f"ApiKey(id={self.id[:6]}…)"

    __str__ = __repr__


class TokenSigner:
    """Builds the JWT the SDK sends and reuses it until it is due for renewal.

    The token lives ``ttl_seconds``; we renew it earlier (``renew_after_seconds``) so a token
    never expires while a request is in flight. Safe to share between
    threads."""

    def __init__(
        self,
        api_key: ApiKey | str,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        renew_after_seconds: float = DEFAULT_RENEW_AFTER_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if renew_after_seconds >= ttl_seconds:
            raise ValueError("renew_after_seconds must be shorter than ttl_seconds")
        self.api_key = api_key if isinstance(api_key, ApiKey) else ApiKey.parse(api_key)
        self.ttl_seconds = ttl_seconds
        self.renew_after_seconds = renew_after_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._issued_at: float = 0.0

    def token(self) -> str:
        with self._lock:
            now = self._clock()
            # Also when the clock was set back: a token made "in the future" is refused.
            if self._token is None or not 0 <= now - self._issued_at < self.renew_after_seconds:
                self._token = self._sign(now)
                self._issued_at = now
            return self._token

    def authorization_header(self) -> str:
        return f"Bearer {self.token()}"

    def _sign(self, now: float) -> str:
        now_ms = int(now * 1000)
        payload = {
            "api_key": self.api_key.id,
            "exp": now_ms + int(self.ttl_seconds * 1000),
            "timestamp": now_ms,
        }
        with warnings.catch_warnings():
            # Real BigModel secrets are ~16 characters; newer PyJWT warns about short HMAC keys.
            warnings.filterwarnings("ignore", message=".*HMAC key.*")
            return jwt.encode(payload, self.api_key.secret, algorithm="HS256", headers=_JWT_HEADERS)

    def __repr__(self) -> str:
        return f"TokenSigner({self.api_key!r}, ttl_seconds={self.ttl_seconds})"


# --------------------------------------------------------------------------- checking a caller
# How BigModel checks an Authorization value, for whatever answers as it does (the simulator, the
# console's own endpoint): the four forms real clients send (``Bearer <key>``, ``Bearer <jwt>``,
# a bare ``<jwt>`` as langchain sends it, and a bare key), and its 1000-1004 refusals in its own
# words. A JWT's ``exp`` and ``timestamp`` are milliseconds, unlike RFC 7519, so its expiry is
# checked here rather than by PyJWT.

AUTH_FAILED = "身份验证失败。"
NO_AUTH = "Header中未收到Authorization参数，无法进行身份验证。"
BAD_TOKEN = "Authorization Token非法，请确认Authorization Token正确传递。"
TOKEN_EXPIRED = "Authorization Token已过期。"
BAD_SIGNATURE = "通过Authorization Token的验证失败。"


class AuthRefused(Exception):
    """An Authorization value BigModel would refuse: its code (1000-1004) and its words."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, repr=False)
class Presented:
    """What an Authorization value carries: a key's id, and the key's secret or a JWT."""

    key_id: str
    secret: str | None = None
    token: str | None = None
    bearer: bool = True

    def __repr__(self) -> str:
        return f"Presented(key_id={self.key_id[:6]}…, {'jwt' if self.token else 'key'})"


def presented(header: str | None, *, strict: bool = False) -> Presented:
    """Read an Authorization value (not yet checked against any key). ``strict`` wants the
    ``sign_type: SIGN`` header the SDKs put in their JWTs. Raises AuthRefused."""
    value = (header or "").strip()
    if not value or value.lower() == "bearer":
        raise AuthRefused(1001, NO_AUTH)
    bearer = value[:7].lower() == "bearer "
    value = value[7:].strip() if bearer else value
    parts = value.split(".")
    if len(parts) == 2 and all(parts):
        return Presented(key_id=parts[0], secret=parts[1], bearer=bearer)
    if len(parts) != 3:
        raise AuthRefused(1002, BAD_TOKEN)
    try:
        header_fields = jwt.get_unverified_header(value)
        claims = jwt.decode(value, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise AuthRefused(1002, BAD_TOKEN) from None
    if header_fields.get("alg") != "HS256" or (strict and header_fields.get("sign_type") != "SIGN"):
        raise AuthRefused(1002, BAD_TOKEN)
    key_id = claims.get("api_key")
    if not isinstance(key_id, str) or not key_id:
        raise AuthRefused(1002, BAD_TOKEN)
    return Presented(key_id=key_id, token=value, bearer=bearer)


def check_presented(given: Presented, secret: str) -> None:
    """That ``given`` was made with ``secret``: the secret itself, or a JWT it signed that is
    within its life. Raises AuthRefused."""
    if given.token is None:
        if not hmac.compare_digest((given.secret or "").encode(), secret.encode()):
            raise AuthRefused(1000, AUTH_FAILED)
        return
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*HMAC key.*")
            # exp is in milliseconds, so PyJWT's own (seconds) expiry check stays off.
            claims = jwt.decode(
                given.token, secret, algorithms=["HS256"], options={"verify_exp": False}
            )
    except jwt.InvalidSignatureError:
        raise AuthRefused(1004, BAD_SIGNATURE) from None
    except jwt.PyJWTError:
        raise AuthRefused(1002, BAD_TOKEN) from None
    _check_lifetime(claims.get("timestamp"), claims.get("exp"), now_ms=time.time() * 1000)


# A token's life is bounded, so a leaked one stops working within a day without rotating the key:
# the SDKs make theirs for 210 s, at most a minute ahead of this clock (a client's clock that runs
# fast), and both put ``timestamp`` in every token.
MOST_TOKEN_LIFE_MS = 24 * 3600 * 1000
MOST_CLOCK_AHEAD_MS = 60 * 1000


def _check_lifetime(timestamp: object, exp: object, *, now_ms: float) -> None:
    """A token with a bad or too-long life is not a token BigModel makes: 1002 (a new one made
    alike is refused alike). One that lived its life out is 1003, to be made again."""
    if not (_is_ms(timestamp) and _is_ms(exp)):
        raise AuthRefused(1002, BAD_TOKEN)
    if timestamp > now_ms + MOST_CLOCK_AHEAD_MS:
        raise AuthRefused(1002, BAD_TOKEN)
    if exp > timestamp + MOST_TOKEN_LIFE_MS or exp > now_ms + MOST_TOKEN_LIFE_MS:
        raise AuthRefused(1002, BAD_TOKEN)
    # A seconds-based exp lands in 1970 when read as ms, so it is "expired" too.
    if exp < now_ms:
        raise AuthRefused(1003, TOKEN_EXPIRED)


def _is_ms(value: object) -> TypeGuard[int | float]:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
