import json
import pickle

import pytest

from bigmodel.errors import (
    AccountError,
    AuthenticationError,
    BigModelError,
    ConfigurationError,
    InsufficientBalance,
    InvalidParameter,
    ModelNotFound,
    PromptTooLong,
    RateLimited,
    UnsafeContent,
    UpstreamFailure,
    UpstreamUnavailable,
    error_from_payload,
    error_from_response,
    scrub,
)

KEY = "test-key-id.test-secret-value"
SECRET = "test-secret-value"


def body(code, message="msg", **extra) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}, **extra}).encode()


@pytest.mark.parametrize(
    "code, status, cls, retryable",
    [
        ("500", 500, UpstreamFailure, True),
        ("1000", 401, AuthenticationError, False),
        ("1001", 401, AuthenticationError, False),
        ("1002", 401, AuthenticationError, False),
        ("1003", 401, AuthenticationError, False),
        ("1004", 401, AuthenticationError, False),
        ("1005", 401, AuthenticationError, False),
        ("1110", 429, AccountError, False),
        ("1111", 429, AccountError, False),
        ("1112", 429, AccountError, False),
        ("1113", 429, InsufficientBalance, False),
        ("1120", 429, AccountError, False),
        ("1121", 429, AccountError, False),
        ("1200", 500, UpstreamFailure, True),
        ("1210", 400, InvalidParameter, False),
        ("1211", 400, ModelNotFound, False),
        ("1212", 400, ModelNotFound, False),
        ("1213", 400, InvalidParameter, False),
        ("1214", 400, InvalidParameter, False),
        ("1215", 400, InvalidParameter, False),
        ("1220", 403, AccountError, False),
        ("1221", 400, ModelNotFound, False),
        ("1222", 400, ModelNotFound, False),
        ("1230", 500, UpstreamFailure, True),
        ("1234", 500, UpstreamFailure, True),
        ("1261", 400, PromptTooLong, False),
        ("1300", 400, UnsafeContent, False),
        ("1301", 400, UnsafeContent, False),
        ("1302", 429, RateLimited, True),
        ("1303", 429, RateLimited, True),
        ("1304", 429, RateLimited, False),
        ("1305", 429, RateLimited, True),
        ("1308", 429, RateLimited, False),
    ],
)
def test_code_maps_to_class(code, status, cls, retryable):
    error = error_from_response(status, body(code, "upstream says no"))
    assert type(error) is cls
    assert error.code == code
    assert error.http_status == status
    assert error.retryable is retryable
    assert error.upstream_message == "upstream says no"


def test_the_code_wins_over_the_status():
    # 1113 arrives as HTTP 429 like a rate limit, but must not be treated as one.
    error = error_from_response(429, body("1113"))
    assert isinstance(error, InsufficientBalance)
    assert not isinstance(error, RateLimited)
    assert error.retryable is False


def test_hierarchy():
    assert issubclass(InsufficientBalance, AccountError)
    assert issubclass(PromptTooLong, InvalidParameter)
    for cls in (
        AccountError,
        AuthenticationError,
        ConfigurationError,
        InvalidParameter,
        ModelNotFound,
        RateLimited,
        UnsafeContent,
        UpstreamFailure,
        UpstreamUnavailable,
    ):
        assert issubclass(cls, BigModelError)


@pytest.mark.parametrize("code", [1113, "1113", 1113.0, " 1113 "])
def test_numeric_and_string_codes(code):
    error = error_from_response(429, body(code))
    assert isinstance(error, InsufficientBalance)
    assert error.code == "1113"


def test_body_may_be_str_bytes_or_dict():
    for raw in (body("1214"), body("1214").decode(), json.loads(body("1214"))):
        assert isinstance(error_from_response(400, raw), InvalidParameter)


def test_str_is_plain_english_with_hint():
    error = error_from_response(429, body("1113", "余额不足或无可用资源包,请充值。"))
    assert str(error) == "Balance exhausted (1113) — top up your BigModel account"
    assert error.title == "Balance exhausted"
    assert error.upstream_message == "余额不足或无可用资源包,请充值。"


def test_repr_shows_code_status_and_upstream_message():
    error = error_from_response(400, body("1214", "temperature参数非法"))
    assert repr(error) == (
        "InvalidParameter(code='1214', http_status=400, retryable=False, "
        "upstream_message='temperature参数非法')"
    )


@pytest.mark.parametrize(
    "status, cls, retryable",
    [
        (502, UpstreamFailure, True),
        (503, UpstreamFailure, True),
        (504, UpstreamFailure, True),
        (500, UpstreamFailure, True),
        (429, RateLimited, True),
        (401, AuthenticationError, False),
        (400, InvalidParameter, False),
        (404, BigModelError, False),
        (418, BigModelError, False),
    ],
)
def test_non_json_bodies_fall_back_to_the_status(status, cls, retryable):
    error = error_from_response(status, b"<html><body>nginx error</body></html>")
    assert type(error) is cls
    assert error.code == str(status)
    assert error.retryable is retryable
    assert "nginx error" in error.upstream_message


@pytest.mark.parametrize("raw", [None, b"", "", b"not json", b"[1, 2]", b"{broken"])
def test_empty_or_malformed_bodies(raw):
    error = error_from_response(502, raw)
    assert isinstance(error, UpstreamFailure)
    assert error.code == "502"


def test_unknown_code_with_5xx_is_an_upstream_failure():
    error = error_from_response(503, body("9999"))
    assert type(error) is UpstreamFailure
    assert error.code == "9999"
    assert error.retryable


def test_unknown_code_with_4xx_uses_the_status():
    assert type(error_from_response(400, body("9999"))) is InvalidParameter


def test_error_as_a_plain_string():
    error = error_from_response(500, {"error": "boom"})
    assert isinstance(error, UpstreamFailure)
    assert error.upstream_message == "boom"


def test_legacy_top_level_code():
    error = error_from_response(400, {"code": 1261, "msg": "Prompt too long", "success": False})
    assert isinstance(error, PromptTooLong)


def test_unsafe_content_carries_the_content_filter():
    message = "系统检测到输入或生成内容可能包含不安全或敏感内容"
    raw = body("1301", message, contentFilter=[{"level": 2, "role": "user"}])
    error = error_from_response(400, raw)
    assert isinstance(error, UnsafeContent)
    assert error.content_filter == [{"level": 2, "role": "user"}]
    assert not error.retryable


def test_unsafe_content_without_filter_has_empty_list():
    assert error_from_response(400, body("1301")).content_filter == []


def test_error_from_payload_without_status():
    error = error_from_payload({"error": {"code": "1214", "message": "bad"}})
    assert isinstance(error, InvalidParameter)
    assert error.http_status is None


def test_long_upstream_messages_are_truncated():
    error = error_from_response(500, b"x" * 10_000)
    assert len(error.upstream_message) <= 500


# --------------------------------------------------------------------------- scrubbing

JWT = (
    "eyJhbGciOiJIUzI1NiIsInNpZ25fdHlwZSI6IlNJR04ifQ"
    ".eyJhcGlfa2V5IjoidGVzdC1rZXktaWQifQ.c2lnbmF0dXJlLXBhcnQ"
)


def test_scrub_removes_key_secret_and_jwts():
    text = f"key {KEY} secret {SECRET} token Bearer {JWT} done"
    cleaned = scrub(text, (KEY, SECRET))
    assert KEY not in cleaned
    assert SECRET not in cleaned
    assert JWT not in cleaned
    assert cleaned == "key *** secret *** token Bearer *** done"


def test_scrub_ignores_empty_secrets():
    assert scrub("hello", ("",)) == "hello"


def test_upstream_messages_are_scrubbed():
    raw = body("1002", f"Authorization Token非法: {KEY} / {JWT}")
    error = error_from_response(401, raw, secrets=(KEY, SECRET))
    for text in (str(error), repr(error), error.upstream_message, str(error.args)):
        assert SECRET not in text
        assert JWT not in text


def test_non_json_bodies_are_scrubbed_too():
    error = error_from_response(502, f"proxy echoed {KEY}", secrets=(KEY, SECRET))
    assert SECRET not in error.upstream_message


def test_jwts_are_scrubbed_even_without_secrets():
    error = error_from_response(401, body("1003", f"expired: {JWT}"))
    assert JWT not in error.upstream_message


def test_scrubbed_cleans_detail_and_args():
    error = UpstreamUnavailable(f"could not connect to {KEY}")
    error.scrubbed((KEY, SECRET))
    assert SECRET not in str(error)
    assert SECRET not in repr(error.args)


# --------------------------------------------------------------------------- local errors


def test_upstream_unavailable_defaults():
    error = UpstreamUnavailable("stream ended early", partial_text="Hello")
    assert error.code == "network"
    assert error.retryable
    assert error.partial_text == "Hello"
    assert str(error) == (
        "BigModel unreachable (network): stream ended early — try again in a moment"
    )


def test_configuration_error_defaults():
    error = ConfigurationError("the API key must look like '<id>.<secret>'")
    assert error.code == "config"
    assert not error.retryable
    assert error.http_status is None


def test_errors_survive_pickling():
    error = error_from_response(429, body("1113", "余额不足"))
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is InsufficientBalance
    assert copy.code == "1113"
    assert str(copy) == str(error)
    unsafe = pickle.loads(pickle.dumps(error_from_response(400, body("1301", contentFilter=[]))))
    assert isinstance(unsafe, UnsafeContent)
