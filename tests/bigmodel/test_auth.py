import threading
import time

import jwt
import pytest

from bigmodel.auth import ApiKey, AuthRefused, TokenSigner, check_presented, presented
from bigmodel.errors import ConfigurationError

KEY = "test-key-id.test-secret-value"
SECRET = "test-secret-value"


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def decode(token: str) -> dict:
    return jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False})


def test_parse_splits_id_and_secret():
    key = ApiKey.parse(KEY)
    assert key.id == "test-key-id"
    assert key.secret == SECRET


def test_parse_strips_surrounding_whitespace():
    assert ApiKey.parse(f"  {KEY}\n").secret == SECRET


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "no-dot-at-all",
        "two.dots.here",
        ".secret-only",
        "id-only.",
        ".",
    ],
)
def test_parse_rejects_bad_formats(raw):
    with pytest.raises(ConfigurationError) as caught:
        ApiKey.parse(raw)
    assert caught.value.code == "config"
    assert "<id>.<secret>" in str(caught.value) or "ZHIPUAI_API_KEY" in str(caught.value)


def test_parse_error_never_echoes_the_key():
    raw = "leaky-id.leaky-secret.extra"
    with pytest.raises(ConfigurationError) as caught:
        ApiKey.parse(raw)
    text = f"{caught.value} {caught.value!r} {caught.value.args}"
    assert "leaky-secret" not in text
    assert "leaky-id" not in text


def test_repr_and_str_hide_the_secret():
    key = ApiKey.parse(KEY)
    for text in (repr(key), str(key), f"{key}", repr([key])):
        assert SECRET not in text
        assert "test-k" in text
    assert repr(key) == "ApiKey(id=test-k…)"


def test_token_header_and_payload():
    clock = FakeClock(1_700_000_000.5)
    token = TokenSigner(ApiKey.parse(KEY), clock=clock).token()

    header = jwt.get_unverified_header(token)
    assert header == {"alg": "HS256", "sign_type": "SIGN", "typ": "JWT"}

    payload = decode(token)
    assert payload["api_key"] == "test-key-id"
    assert payload["timestamp"] == 1_700_000_000_500  # milliseconds
    assert payload["exp"] - payload["timestamp"] == 210_000


def test_token_is_signed_with_the_secret():
    token = TokenSigner(ApiKey.parse(KEY), clock=FakeClock()).token()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "another-secret", algorithms=["HS256"], options={"verify_exp": False})


def test_signer_accepts_a_raw_key_string():
    signer = TokenSigner(KEY, clock=FakeClock())
    assert decode(signer.token())["api_key"] == "test-key-id"


def test_token_is_cached_until_renewal_is_due():
    clock = FakeClock()
    signer = TokenSigner(ApiKey.parse(KEY), clock=clock)
    first = signer.token()

    clock.now += 179.9
    assert signer.token() == first

    clock.now += 0.1  # 180 s after issue
    renewed = signer.token()
    assert renewed != first
    assert decode(renewed)["timestamp"] == int(clock.now * 1000)

    clock.now += 10
    assert signer.token() == renewed


def test_a_clock_set_back_gets_a_token_made_now():
    """A token made ahead of the clock (which was then set back) is refused as made in the
    future: it is not reused until the clock catches up with it."""
    clock = FakeClock()
    signer = TokenSigner(ApiKey.parse(KEY), clock=clock)
    first = signer.token()
    clock.now -= 3600
    again = signer.token()
    assert again != first
    assert decode(again)["timestamp"] == int(clock.now * 1000)


def test_custom_ttl():
    clock = FakeClock()
    signer = TokenSigner(ApiKey.parse(KEY), ttl_seconds=60, renew_after_seconds=30, clock=clock)
    payload = decode(signer.token())
    assert payload["exp"] - payload["timestamp"] == 60_000
    first = signer.token()
    clock.now += 30
    assert signer.token() != first


def test_renewal_must_come_before_expiry():
    with pytest.raises(ValueError):
        TokenSigner(ApiKey.parse(KEY), ttl_seconds=60, renew_after_seconds=60)


def test_authorization_header_is_bearer_jwt():
    signer = TokenSigner(ApiKey.parse(KEY), clock=FakeClock())
    scheme, token = signer.authorization_header().split(" ")
    assert scheme == "Bearer"
    assert decode(token)["api_key"] == "test-key-id"


def test_signer_repr_hides_the_secret():
    assert SECRET not in repr(TokenSigner(ApiKey.parse(KEY)))


def test_concurrent_callers_share_one_token():
    signer = TokenSigner(ApiKey.parse(KEY), clock=FakeClock())
    tokens: list[str] = []

    def grab():
        tokens.append(signer.token())

    threads = [threading.Thread(target=grab) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(tokens)) == 1


def test_no_hmac_warning_escapes(recwarn):
    TokenSigner(ApiKey.parse(KEY), clock=FakeClock()).token()
    assert not [w for w in recwarn if "HMAC" in str(w.message)]


# ------------------------------------------------------------------------- checking a caller's JWT
# BigModel's JWT carries ms: ``timestamp`` (when it was made) and ``exp``. A token may live at most
# a day, and may be made at most a minute ahead of this clock.

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def now_ms() -> int:
    return int(time.time() * 1000)


def signed(**claims) -> str:
    payload = {"api_key": "test-key-id", **claims}
    return jwt.encode(
        payload, SECRET, algorithm="HS256", headers={"alg": "HS256", "sign_type": "SIGN"}
    )


def refusal_of(token: str) -> int | None:
    """The AuthRefused code a token gets, None when it is taken."""
    try:
        check_presented(presented(f"Bearer {token}"), SECRET)
    except AuthRefused as refused:
        return refused.code
    return None


def test_a_jwt_as_the_sdks_make_it_is_taken():
    now = now_ms()
    assert refusal_of(signed(exp=now + 210_000, timestamp=now)) is None
    # Made a little ahead of this clock (a client's clock runs fast), or made 23 h ago for a day.
    assert refusal_of(signed(exp=now + 210_000, timestamp=now + 50_000)) is None
    assert refusal_of(signed(exp=now + HOUR_MS, timestamp=now - 23 * HOUR_MS)) is None


@pytest.mark.parametrize(
    "exp, timestamp",
    [
        pytest.param(lambda now: 10**16, lambda now: now, id="exp-in-the-year-318857"),
        pytest.param(lambda now: 1e308, lambda now: now, id="exp-1e308"),
        pytest.param(
            lambda now: now + DAY_MS + 1000, lambda now: now, id="exp-over-a-day-after-timestamp"
        ),
        # Made 30 s ahead (allowed) for a day less 10 s (allowed): still over a day from now.
        pytest.param(
            lambda now: now + DAY_MS + 20_000,
            lambda now: now + 30_000,
            id="exp-over-a-day-from-now",
        ),
    ],
)
def test_a_jwt_that_lives_longer_than_a_day_is_an_invalid_token(exp, timestamp):
    now = now_ms()
    assert refusal_of(signed(exp=exp(now), timestamp=timestamp(now))) == 1002


def test_a_jwt_made_more_than_a_minute_ahead_is_an_invalid_token():
    now = now_ms()
    assert refusal_of(signed(exp=now + 2 * 60_000 + 210_000, timestamp=now + 2 * 60_000)) == 1002


@pytest.mark.parametrize(
    "timestamp", ["missing", "1700000000000", None, True, [1], {"ms": 1}], ids=repr
)
def test_a_jwt_without_a_numeric_timestamp_is_an_invalid_token(timestamp):
    now = now_ms()
    claims = {"exp": now + 210_000}
    if timestamp != "missing":
        claims["timestamp"] = timestamp
    assert refusal_of(signed(**claims)) == 1002


def test_a_jwt_past_its_exp_is_expired():
    now = now_ms()
    assert refusal_of(signed(exp=now - 1, timestamp=now - 210_001)) == 1003
