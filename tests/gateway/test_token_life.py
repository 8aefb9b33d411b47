"""A JWT made with a member's key is taken through the endpoint only within a day's life: a leaked
token stops working within a day, without rotating the key."""

import time

import httpx
import jwt

from tests.gateway.conftest import MESSAGES, refusal


def jwt_for(raw: str, *, exp: float, timestamp: float | None) -> str:
    key_id, secret = raw.split(".")
    payload = {"api_key": key_id, "exp": exp}
    if timestamp is not None:
        payload["timestamp"] = timestamp
    return jwt.encode(
        payload, secret, algorithm="HS256", headers={"alg": "HS256", "sign_type": "SIGN"}
    )


def call(base: str, token: str) -> httpx.Response:
    return httpx.post(
        f"{base}chat/completions",
        json={"model": "glm-4-flash", "messages": MESSAGES},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def test_a_jwt_that_lives_for_centuries_or_has_no_timestamp_is_a_401_1002(key, base):
    _, raw = key
    now = int(time.time() * 1000)
    assert call(base, jwt_for(raw, exp=now + 210_000, timestamp=now)).status_code == 200
    centuries = call(base, jwt_for(raw, exp=10**16, timestamp=now))
    assert refusal(centuries) == (401, "1002")
    assert "Authorization Token非法" in centuries.json()["error"]["message"]
    assert refusal(call(base, jwt_for(raw, exp=1e308, timestamp=now))) == (401, "1002")
    assert refusal(call(base, jwt_for(raw, exp=now + 210_000, timestamp=None))) == (401, "1002")
