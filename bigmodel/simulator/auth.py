"""The four Authorization forms BigModel accepts, and its 1000-1004 failures (read and checked
as :mod:`bigmodel.auth` does for whatever answers as BigModel does)."""

from __future__ import annotations

import time
import warnings

import jwt

from ..auth import BAD_TOKEN, AuthRefused, check_presented, presented
from .errors import ApiError, unauthorized

# Real secrets are ~16 characters; newer PyJWT warns about short HMAC keys.
warnings.filterwarnings("ignore", message=".*HMAC key.*")

FORM_BEARER_KEY = "bearer-key"
FORM_BEARER_JWT = "bearer-jwt"
FORM_JWT = "jwt"
FORM_KEY = "key"


def parse_keys(keys: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["id.secret", ...]`` -> ``{id: secret}``; the SDK splits on exactly one dot."""
    table: dict[str, str] = {}
    for key in keys:
        parts = key.strip().split(".")
        if len(parts) != 2 or not all(parts):
            raise ValueError("an API key must look like '<id>.<secret>'")
        table[parts[0]] = parts[1]
    return table


def authenticate(header: str | None, secrets: dict[str, str], strict: bool = False) -> str:
    """Check an Authorization value; return which of the four forms it used.

    Raises ApiError(401, ...) with the upstream code on failure.
    """
    try:
        given = presented(header, strict=strict)
        secret = secrets.get(given.key_id)
        if secret is None:
            raise AuthRefused(1002, BAD_TOKEN)
        check_presented(given, secret)
    except AuthRefused as refused:
        raise unauthorized(refused.code, refused.message) from None
    if given.token is None:
        return FORM_BEARER_KEY if given.bearer else FORM_KEY
    return FORM_BEARER_JWT if given.bearer else FORM_JWT


def make_jwt(api_key: str, ttl_seconds: float = 210, now_ms: int | None = None) -> str:
    """Build a token exactly like the zhipuai SDK does (handy for tests and tools)."""
    key_id, secret = api_key.split(".")
    now = int(round(time.time() * 1000)) if now_ms is None else now_ms
    payload = {"api_key": key_id, "exp": now + int(ttl_seconds * 1000), "timestamp": now}
    return jwt.encode(
        payload, secret, algorithm="HS256", headers={"alg": "HS256", "sign_type": "SIGN"}
    )


__all__ = ["ApiError", "authenticate", "make_jwt", "parse_keys"]
