"""The clients against ``httpx.MockTransport`` standing in for BigModel.

Most behaviour is checked for both clients through ``call`` / ``stream``, which run the same
scenario on the blocking client or (in a fresh event loop) on the asyncio
one."""

import asyncio
import json
import logging
import random
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import jwt
import pytest

from bigmodel.client import (
    DEFAULT_BASE_URL,
    AsyncBigModelClient,
    BigModelClient,
    ChatResult,
    RetryPolicy,
)
from bigmodel.errors import (
    AuthenticationError,
    BigModelError,
    ConfigurationError,
    InsufficientBalance,
    InvalidParameter,
    PromptTooLong,
    RateLimited,
    UnsafeContent,
    UpstreamFailure,
    UpstreamUnavailable,
)
from bigmodel.sse import Usage

KEY = "test-key-id.test-secret-value"
SECRET = "test-secret-value"
BASE = "http://upstream.test/api/paas/v4"
BODY = {"model": "glm-4-flash", "messages": [{"role": "user", "content": "hi"}]}
USAGE = {"prompt_tokens": 19, "completion_tokens": 26, "total_tokens": 45}
CHAT_REPLY = {
    "choices": [
        {
            "finish_reason": "stop",
            "index": 0,
            "message": {"content": "Hello!", "role": "assistant", "reasoning_content": "hmm"},
        }
    ],
    "created": 1705933810,
    "id": "8313804547540260859",
    "model": "glm-4-flash",
    "request_id": "req-1",
    "usage": USAGE,
}
HANG = object()  # in a scripted body: wait until cancelled


def sse(content="", *, finish=None, usage=None) -> bytes:
    choice = {"index": 0, "delta": {"role": "assistant", "content": content}}
    if finish:
        choice["finish_reason"] = finish
    data = {"id": "stream-1", "created": 1, "model": "glm-4-flash", "choices": [choice]}
    if usage:
        data["usage"] = usage
    return f"data: {json.dumps(data)}\n\n".encode()


DONE = b"data: [DONE]\n\n"


class ScriptedBody(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body delivered piece by piece; exceptions in the script are raised."""

    def __init__(self, *pieces) -> None:
        self.pieces = pieces
        self.closed = False

    def __iter__(self):
        for piece in self.pieces:
            if isinstance(piece, Exception):
                raise piece
            yield piece

    async def __aiter__(self):
        for piece in self.pieces:
            if isinstance(piece, Exception):
                raise piece
            if piece is HANG:
                await asyncio.Event().wait()
            yield piece

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True


def ok(payload=CHAT_REPLY, status=200):
    return lambda request: httpx.Response(status, json=payload)


def err(status, code, message="upstream message", **extra):
    payload = {"error": {"code": code, "message": message}, **extra}
    return lambda request: httpx.Response(status, json=payload)


def stream_ok(*pieces, body=None):
    def respond(request):
        content = body or ScriptedBody(*pieces)
        return httpx.Response(
            200, headers={"content-type": "text/event-stream;charset=UTF-8"}, stream=content
        )

    return respond


def refuse(request):
    raise httpx.ConnectError("connection refused", request=request)


class Upstream:
    """Answers each request with the next step of its script (the last one repeats)."""

    def __init__(self, *script) -> None:
        self.script = list(script)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.script[min(len(self.requests), len(self.script)) - 1]
        return step(request)

    @property
    def attempts(self) -> int:
        return len(self.requests)


def client_options(upstream, **overrides) -> dict:
    return {"transport": httpx.MockTransport(upstream), "backoff_base": 0, **overrides}


def call(flavour, upstream, method, *args, options=None, **kwargs):
    options = client_options(upstream, **(options or {}))
    if flavour == "sync":
        with BigModelClient(KEY, BASE, **options) as client:
            return getattr(client, method)(*args, **kwargs)

    async def run():
        async with AsyncBigModelClient(KEY, BASE, **options) as client:
            return await getattr(client, method)(*args, **kwargs)

    return asyncio.run(run())


def stream(flavour, upstream, body=BODY, **options):
    """Reads a whole stream; returns (chunks, summary of the stream object)."""
    options = client_options(upstream, **options)

    def summary(s):
        return {
            "content": s.content,
            "finish_reason": s.finish_reason,
            "usage": s.usage,
            "id": s.id,
            "request_id": s.request_id,
        }

    if flavour == "sync":
        with BigModelClient(KEY, BASE, **options) as client:
            with client.chat_stream(body) as s:
                return list(s), summary(s)

    async def run():
        async with AsyncBigModelClient(KEY, BASE, **options) as client:
            async with client.chat_stream(body) as s:
                return [chunk async for chunk in s], summary(s)

    return asyncio.run(run())


@pytest.fixture(params=["sync", "async"])
def flavour(request):
    return request.param


# --------------------------------------------------------------------------- construction


@pytest.mark.parametrize("bad", ["", "no-dot", "a.b.c", ".secret", "id."])
@pytest.mark.parametrize("cls", [BigModelClient, AsyncBigModelClient])
def test_bad_key_fails_at_construction(cls, bad):
    with pytest.raises(ConfigurationError):
        cls(bad)


@pytest.mark.parametrize("cls", [BigModelClient, AsyncBigModelClient])
def test_bad_base_url_fails_at_construction(cls):
    with pytest.raises(ConfigurationError):
        cls(KEY, "open.bigmodel.cn/api/paas/v4")


def test_defaults():
    client = BigModelClient(KEY)
    shared = client._client  # the blocking client runs the async one
    assert DEFAULT_BASE_URL == "https://open.bigmodel.cn/api/paas/v4"
    assert shared._http.timeout == httpx.Timeout(300, connect=8)
    assert shared._core.retry == RetryPolicy(max_retries=2, backoff_base=0.5)
    client.close()


def test_one_blocking_client_serves_many_threads_at_once():
    # Each reply waits until all four requests are in flight, so serial calls would deadlock.
    arrived = asyncio.Barrier(4)

    async def respond(request):
        await asyncio.wait_for(arrived.wait(), timeout=5)
        return httpx.Response(200, json=CHAT_REPLY)

    with BigModelClient(KEY, BASE, **client_options(respond)) as client:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: client.chat(BODY).content, range(4)))
    assert results == ["Hello!"] * 4


def test_a_closed_blocking_client_says_so():
    client = BigModelClient(KEY, BASE, **client_options(Upstream(ok())))
    client.close()
    client.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        client.chat(BODY)


@pytest.mark.parametrize("cls", [BigModelClient, AsyncBigModelClient])
def test_repr_hides_the_secret(cls):
    assert SECRET not in repr(cls(KEY))


# --------------------------------------------------------------------------- requests


def test_chat_request_and_result(flavour):
    upstream = Upstream(ok())
    result = call(flavour, upstream, "chat", BODY)

    assert result == ChatResult(
        id="8313804547540260859",
        request_id="req-1",
        content="Hello!",
        reasoning_content="hmm",
        finish_reason="stop",
        usage=Usage(prompt_tokens=19, completion_tokens=26, total_tokens=45),
        raw=CHAT_REPLY,
    )
    assert result.raw == CHAT_REPLY
    request = upstream.requests[0]
    assert request.method == "POST"
    assert str(request.url) == f"{BASE}/chat/completions"
    assert request.headers["accept"] == "application/json"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {**BODY, "stream": False}


def test_authorization_is_a_bearer_jwt_for_the_key_id(flavour):
    upstream = Upstream(ok())
    call(flavour, upstream, "chat", BODY)
    scheme, token = upstream.requests[0].headers["authorization"].split(" ")
    assert scheme == "Bearer"
    payload = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert payload["api_key"] == "test-key-id"
    assert jwt.get_unverified_header(token)["sign_type"] == "SIGN"


def test_tool_call_reply_has_empty_content(flavour):
    reply = {
        "id": "x",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {"role": "assistant", "content": None, "tool_calls": [{"id": "c"}]},
            }
        ],
        "usage": USAGE,
    }
    result = call(flavour, Upstream(ok(reply)), "chat", BODY)
    assert result.content == ""
    assert result.finish_reason == "tool_calls"
    assert result.raw["choices"][0]["message"]["tool_calls"] == [{"id": "c"}]


def test_async_chat_submit_and_result(flavour):
    submitted = {"id": "task/1", "request_id": "r", "task_status": "PROCESSING"}
    upstream = Upstream(ok(submitted))
    assert call(flavour, upstream, "async_chat_submit", {**BODY, "stream": True}) == submitted
    request = upstream.requests[0]
    assert str(request.url) == f"{BASE}/async/chat/completions"
    assert "stream" not in json.loads(request.content)

    done = {"id": "task/1", "task_status": "SUCCESS", "choices": [], "usage": USAGE}
    upstream = Upstream(ok(done))
    assert call(flavour, upstream, "async_chat_result", "task/1") == done
    request = upstream.requests[0]
    assert request.method == "GET"
    assert request.url.raw_path == b"/api/paas/v4/async-result/task%2F1"


def test_images_generate(flavour):
    reply = {"created": 1, "data": [{"url": "https://example.com/x_0.png"}]}
    upstream = Upstream(ok(reply))
    assert call(flavour, upstream, "images_generate", model="cogview-3", prompt="a cat") == reply
    request = upstream.requests[0]
    assert str(request.url) == f"{BASE}/images/generations"
    assert json.loads(request.content) == {"model": "cogview-3", "prompt": "a cat"}

    upstream = Upstream(ok(reply))
    call(
        flavour,
        upstream,
        "images_generate",
        model="cogview-3-flash",
        prompt="a dog",
        size="768x1344",
        request_id="req-9",
        user_id="user-123456",
    )
    assert json.loads(upstream.requests[0].content) == {
        "model": "cogview-3-flash",
        "prompt": "a dog",
        "size": "768x1344",
        "request_id": "req-9",
        "user_id": "user-123456",
    }


def test_embeddings(flavour):
    reply = {"model": "embedding-3", "object": "list", "data": [], "usage": USAGE}
    upstream = Upstream(ok(reply))
    result = call(
        flavour, upstream, "embeddings", model="embedding-3", input=["a", "b"], dimensions=256
    )
    assert result == reply
    request = upstream.requests[0]
    assert str(request.url) == f"{BASE}/embeddings"
    assert json.loads(request.content) == {
        "model": "embedding-3",
        "input": ["a", "b"],
        "dimensions": 256,
    }

    upstream = Upstream(ok(reply))
    call(flavour, upstream, "embeddings", model="embedding-2", input="a")
    assert json.loads(upstream.requests[0].content) == {"model": "embedding-2", "input": "a"}


# --------------------------------------------------------------------------- errors and retries


def test_rate_limit_is_retried_then_succeeds(flavour):
    upstream = Upstream(err(429, "1302"), ok())
    assert call(flavour, upstream, "chat", BODY).content == "Hello!"
    assert upstream.attempts == 2


def test_server_error_is_retried(flavour):
    upstream = Upstream(err(500, "500"), lambda r: httpx.Response(502, text="bad gateway"), ok())
    assert call(flavour, upstream, "chat", BODY).content == "Hello!"
    assert upstream.attempts == 3


def test_retries_are_bounded(flavour):
    upstream = Upstream(err(500, "1234"))
    with pytest.raises(UpstreamFailure) as caught:
        call(flavour, upstream, "chat", BODY)
    assert upstream.attempts == 3  # the first try and max_retries=2
    assert caught.value.code == "1234"


def test_max_retries_zero(flavour):
    upstream = Upstream(err(429, "1305"))
    with pytest.raises(RateLimited):
        call(flavour, upstream, "chat", BODY, options={"max_retries": 0})
    assert upstream.attempts == 1


@pytest.mark.parametrize(
    "status, code, cls",
    [
        (429, "1113", InsufficientBalance),
        (400, "1214", InvalidParameter),
        (400, "1261", PromptTooLong),
        (400, "1301", UnsafeContent),
        (401, "1002", AuthenticationError),
        (429, "1304", RateLimited),
    ],
)
def test_permanent_errors_are_not_retried(flavour, status, code, cls):
    upstream = Upstream(err(status, code), ok())
    with pytest.raises(cls) as caught:
        call(flavour, upstream, "chat", BODY)
    assert upstream.attempts == 1
    assert caught.value.code == code
    assert caught.value.http_status == status


def test_balance_error_reads_well(flavour):
    with pytest.raises(InsufficientBalance) as caught:
        upstream = Upstream(err(429, "1113", "余额不足或无可用资源包,请充值。"))
        call(flavour, upstream, "chat", BODY)
    assert str(caught.value) == "Balance exhausted (1113) — top up your BigModel account"
    assert caught.value.upstream_message == "余额不足或无可用资源包,请充值。"


def test_connect_error_is_retried_then_raised(flavour):
    upstream = Upstream(refuse)
    with pytest.raises(UpstreamUnavailable) as caught:
        call(flavour, upstream, "chat", BODY)
    assert upstream.attempts == 3
    assert caught.value.code == "network"
    assert caught.value.retryable
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_connect_error_then_success(flavour):
    upstream = Upstream(refuse, ok())
    assert call(flavour, upstream, "chat", BODY).content == "Hello!"
    assert upstream.attempts == 2


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("read timed out"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.RemoteProtocolError("peer closed connection"),
        httpx.ReadError("connection reset"),
    ],
)
def test_transport_failures_become_upstream_unavailable(flavour, exc):
    def fail(request):
        raise exc

    upstream = Upstream(fail, ok())
    assert call(flavour, upstream, "chat", BODY).content == "Hello!"
    assert upstream.attempts == 2


def test_error_inside_a_200_body(flavour):
    upstream = Upstream(err(200, "1301", contentFilter=[{"level": 1, "role": "user"}]), ok())
    with pytest.raises(UnsafeContent) as caught:
        call(flavour, upstream, "chat", BODY)
    assert caught.value.content_filter == [{"level": 1, "role": "user"}]
    assert upstream.attempts == 1


def test_200_that_is_not_json_is_not_retried(flavour):
    upstream = Upstream(lambda r: httpx.Response(200, text="<html>"), ok())
    with pytest.raises(UpstreamFailure) as caught:
        call(flavour, upstream, "chat", BODY)
    assert not caught.value.retryable
    assert upstream.attempts == 1


@pytest.fixture
def client_sleeps(monkeypatch) -> list[float]:
    """The client's own backoff sleeps, recorded and skipped. Other code in this process (the
    simulator's server loop, in its thread) sleeps as usual."""
    sleeps: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(delay, *args):
        if sys._getframe(1).f_globals["__name__"].startswith("bigmodel.client"):
            sleeps.append(delay)
            return None
        return await real_sleep(delay, *args)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    return sleeps


def test_backoff_schedule(flavour, monkeypatch, client_sleeps):
    sleeps = client_sleeps
    monkeypatch.setattr(random, "random", lambda: 0.0)
    upstream = Upstream(err(500, "500"))
    with pytest.raises(UpstreamFailure):
        call(flavour, upstream, "chat", BODY, options={"backoff_base": 0.5, "max_retries": 3})
    assert sleeps == [0.5, 1.0, 2.0]


def test_backoff_is_capped_and_jittered():
    policy = RetryPolicy(max_retries=10, backoff_base=0.5)
    for attempt in range(10):
        delay = policy.delay(attempt=attempt)
        ceiling = min(0.5 * 2**attempt, 8.0)
        assert 0.75 * ceiling <= delay <= ceiling


async def test_async_backoff_uses_asyncio_sleep(monkeypatch, client_sleeps):
    sleeps = client_sleeps
    monkeypatch.setattr(random, "random", lambda: 0.0)
    upstream = Upstream(err(429, "1302"), err(429, "1303"), ok())
    options = client_options(upstream, backoff_base=1.0)
    async with AsyncBigModelClient(KEY, BASE, **options) as client:
        await client.chat(BODY)
    assert sleeps == [1.0, 2.0]


# --------------------------------------------------------------------------- streaming


def test_stream_happy_path(flavour):
    upstream = Upstream(
        stream_ok(sse("Hel"), sse("lo"), sse("", finish="stop", usage=USAGE) + DONE)
    )
    chunks, summary = stream(flavour, upstream, {**BODY, "request_id": "req-7"})
    assert [c.delta for c in chunks] == ["Hel", "lo", ""]
    assert summary == {
        "content": "Hello",
        "finish_reason": "stop",
        "usage": Usage(prompt_tokens=19, completion_tokens=26, total_tokens=45),
        "id": "stream-1",
        "request_id": "req-7",
    }
    request = upstream.requests[0]
    assert request.headers["accept"] == "text/event-stream"
    assert json.loads(request.content)["stream"] is True


def test_stream_split_across_reads(flavour):
    raw = sse("你好") + sse("世界", finish="stop") + DONE
    pieces = [raw[i : i + 7] for i in range(0, len(raw), 7)]
    chunks, summary = stream(flavour, Upstream(stream_ok(*pieces)))
    assert summary["content"] == "你好世界"
    assert summary["usage"] is None


def test_stream_is_retried_before_the_first_byte(flavour):
    upstream = Upstream(
        err(429, "1302"),
        err(503, "1200"),
        stream_ok(sse("Hi", finish="stop") + DONE),
    )
    _, summary = stream(flavour, upstream)
    assert summary["content"] == "Hi"
    assert upstream.attempts == 3


def test_stream_dropped_before_any_byte_is_retried(flavour):
    upstream = Upstream(
        stream_ok(httpx.RemoteProtocolError("peer closed connection")),
        refuse,
        stream_ok(sse("Hi", finish="stop") + DONE),
    )
    _, summary = stream(flavour, upstream)
    assert summary["content"] == "Hi"
    assert upstream.attempts == 3


def test_stream_is_not_retried_after_the_first_byte(flavour):
    upstream = Upstream(
        stream_ok(sse("Hel"), httpx.RemoteProtocolError("peer closed connection")),
        stream_ok(sse("never", finish="stop") + DONE),
    )
    with pytest.raises(UpstreamUnavailable) as caught:
        stream(flavour, upstream)
    assert upstream.attempts == 1
    assert caught.value.partial_text == "Hel"


def test_stream_that_ends_early(flavour):
    upstream = Upstream(stream_ok(sse("Hel"), sse("lo")))
    with pytest.raises(UpstreamUnavailable) as caught:
        stream(flavour, upstream)
    assert upstream.attempts == 1
    assert caught.value.partial_text == "Hello"
    assert "stream ended early" in str(caught.value)


def test_stream_mid_stream_error(flavour):
    error = json.dumps({"error": {"code": "1214", "message": "bad"}}).encode()
    upstream = Upstream(stream_ok(sse("Hel"), b"data: " + error + b"\n\n"))
    with pytest.raises(InvalidParameter) as caught:
        stream(flavour, upstream)
    assert caught.value.partial_text == "Hel"
    assert upstream.attempts == 1


@pytest.mark.parametrize(
    "status, code, cls", [(429, "1113", InsufficientBalance), (400, "1261", PromptTooLong)]
)
def test_stream_permanent_errors_are_not_retried(flavour, status, code, cls):
    upstream = Upstream(err(status, code), stream_ok(sse("x", finish="stop") + DONE))
    with pytest.raises(cls):
        stream(flavour, upstream)
    assert upstream.attempts == 1


def test_stream_answered_with_a_json_error(flavour):
    upstream = Upstream(err(200, "1301"))
    with pytest.raises(UnsafeContent):
        stream(flavour, upstream)


def test_stream_abnormal_finish(flavour):
    upstream = Upstream(stream_ok(sse("cut", finish="sensitive") + DONE))
    chunks, summary = stream(flavour, upstream)
    assert summary["finish_reason"] == "sensitive"
    assert chunks[-1].is_abnormal


def test_sync_stream_early_exit_closes_upstream():
    body = ScriptedBody(sse("a"), sse("b"), sse("c", finish="stop"), DONE)
    upstream = Upstream(stream_ok(body=body))
    with BigModelClient(KEY, BASE, **client_options(upstream)) as client:
        with client.chat_stream(BODY) as s:
            for _chunk in s:
                break
        assert body.closed
        assert s.content == "a"


def test_sync_stream_must_be_opened():
    with BigModelClient(KEY, BASE, **client_options(Upstream(ok()))) as client:
        with pytest.raises(RuntimeError):
            next(iter(client.chat_stream(BODY)))


async def test_async_stream_early_exit_closes_upstream():
    body = ScriptedBody(sse("a"), sse("b"), HANG)
    upstream = Upstream(stream_ok(body=body))
    async with AsyncBigModelClient(KEY, BASE, **client_options(upstream)) as client:
        async with client.chat_stream(BODY) as s:
            async for chunk in s:
                assert chunk.delta == "a"
                break
        assert body.closed
        await s.aclose()  # idempotent


async def test_async_stream_cancellation_closes_upstream():
    body = ScriptedBody(sse("Hel"), HANG)
    upstream = Upstream(stream_ok(body=body))
    first_chunk = asyncio.Event()
    received: list[str] = []

    async def consume(client):
        async with client.chat_stream(BODY) as s:
            async for chunk in s:
                received.append(chunk.delta)
                first_chunk.set()

    async with AsyncBigModelClient(KEY, BASE, **client_options(upstream)) as client:
        task = asyncio.create_task(consume(client))
        await asyncio.wait_for(first_chunk.wait(), timeout=5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert body.closed
    assert received == ["Hel"]


async def test_async_stream_must_be_opened():
    async with AsyncBigModelClient(KEY, BASE, **client_options(Upstream(ok()))) as client:
        with pytest.raises(RuntimeError):
            await anext(aiter(client.chat_stream(BODY)))


# --------------------------------------------------------------------------- secrecy


def leaky_upstream():
    """An upstream that echoes the credentials back in its error messages."""

    def respond(request):
        auth = request.headers["authorization"]
        message = f"bad {auth} for key {KEY}"
        return httpx.Response(503, json={"error": {"code": "1305", "message": message}})

    return Upstream(respond)


def assert_secret_free(text: str) -> None:
    assert SECRET not in text
    assert KEY not in text
    assert "eyJ" not in text  # no JWT


def test_secrets_never_reach_exceptions_or_logs(flavour, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(BigModelError) as caught:
        call(flavour, leaky_upstream(), "chat", BODY)
    error = caught.value
    for text in (str(error), repr(error), error.upstream_message, repr(error.args)):
        assert_secret_free(text)
    assert "bad Bearer ***" in error.upstream_message
    assert "retry 1 of 2" in caplog.text  # the retries were logged...
    assert_secret_free(caplog.text)  # ...without credentials


def test_stream_errors_are_scrubbed(flavour, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(BigModelError) as caught:
        stream(flavour, leaky_upstream())
    assert_secret_free(f"{caught.value} {caught.value!r} {caught.value.upstream_message}")
    assert_secret_free(caplog.text)


def test_mid_stream_errors_are_scrubbed(flavour):
    error = json.dumps({"error": {"code": "1002", "message": f"bad key {KEY}"}}).encode()
    with pytest.raises(AuthenticationError) as caught:
        stream(flavour, Upstream(stream_ok(sse("x"), b"data: " + error + b"\n\n")))
    assert_secret_free(caught.value.upstream_message)


def test_retry_log_names_method_and_path(caplog):
    caplog.set_level(logging.WARNING, logger="bigmodel")
    call("sync", Upstream(err(429, "1302"), ok()), "chat", BODY)
    [record] = [r for r in caplog.records if r.name == "bigmodel"]
    assert record.getMessage().startswith("POST chat/completions failed: Too many concurrent")
