"""API keys and the short-lived JWTs BigModel accepts in the ``Authorization`` header."""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

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
            if self._token is None or now - self._issued_at >= self.renew_after_seconds:
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
