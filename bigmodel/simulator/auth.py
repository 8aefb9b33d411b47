"""The four Authorization forms BigModel accepts, and its 1000-1004 failures.

``Bearer <api_key>``, ``Bearer <jwt>``, ``<jwt>`` and ``<api_key>`` are all in use
by real clients (SDK versions differ, langchain sends a bare JWT), so all pass.
A JWT's ``exp``/``timestamp`` are milliseconds, unlike RFC 7519, so expiry is
checked here rather than by PyJWT.
"""

from __future__ import annotations

import hmac
import time
import warnings

import jwt

from .errors import (
    MSG_AUTH_FAILED,
    MSG_BAD_SIGNATURE,
    MSG_BAD_TOKEN,
    MSG_NO_AUTH,
    MSG_TOKEN_EXPIRED,
    ApiError,
    unauthorized,
)

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
    if not header or not header.strip():
        raise unauthorized(1001, MSG_NO_AUTH)
    value = header.strip()
    if value.lower() == "bearer":
        raise unauthorized(1001, MSG_NO_AUTH)
    bearer = value[:7].lower() == "bearer "
    if bearer:
        value = value[7:].strip()
    parts = value.split(".")
    if len(parts) == 2:
        _check_raw_key(parts[0], parts[1], secrets)
        return FORM_BEARER_KEY if bearer else FORM_KEY
    if len(parts) == 3:
        _check_jwt(value, secrets, strict)
        return FORM_BEARER_JWT if bearer else FORM_JWT
    raise unauthorized(1002, MSG_BAD_TOKEN)


def _check_raw_key(key_id: str, secret: str, secrets: dict[str, str]) -> None:
    expected = secrets.get(key_id)
    if expected is None:
        raise unauthorized(1002, MSG_BAD_TOKEN)
    if not hmac.compare_digest(expected.encode(), secret.encode()):
        raise unauthorized(1000, MSG_AUTH_FAILED)


def _check_jwt(token: str, secrets: dict[str, str], strict: bool) -> None:
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise unauthorized(1002, MSG_BAD_TOKEN) from None
    if header.get("alg") != "HS256":
        raise unauthorized(1002, MSG_BAD_TOKEN)
    if strict and header.get("sign_type") != "SIGN":
        raise unauthorized(1002, MSG_BAD_TOKEN)
    secret = secrets.get(str(claims.get("api_key")))
    if secret is None:
        raise unauthorized(1002, MSG_BAD_TOKEN)
    _verify_signature(token, secret)
    _check_expiry(claims)


def _verify_signature(token: str, secret: str) -> None:
    try:
        # exp is in milliseconds, so PyJWT's own (seconds) expiry check stays off.
        jwt.decode(token, secret, algorithms=["HS256"], options={"verify_exp": False})
    except jwt.InvalidSignatureError:
        raise unauthorized(1004, MSG_BAD_SIGNATURE) from None
    except jwt.PyJWTError:
        raise unauthorized(1002, MSG_BAD_TOKEN) from None


def _check_expiry(claims: dict) -> None:
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise unauthorized(1002, MSG_BAD_TOKEN)
    # A seconds-based exp lands in 1970 when read as ms, so it is "expired" too.
    if exp < time.time() * 1000:
        raise unauthorized(1003, MSG_TOKEN_EXPIRED)


def make_jwt(api_key: str, ttl_seconds: float = 210, now_ms: int | None = None) -> str:
    """Build a token exactly like the zhipuai SDK does (handy for tests and tools)."""
    key_id, secret = api_key.split(".")
    now = int(round(time.time() * 1000)) if now_ms is None else now_ms
    payload = {"api_key": key_id, "exp": now + int(ttl_seconds * 1000), "timestamp": now}
    return jwt.encode(
        payload, secret, algorithm="HS256", headers={"alg": "HS256", "sign_type": "SIGN"}
    )


__all__ = ["ApiError", "authenticate", "make_jwt", "parse_keys"]
