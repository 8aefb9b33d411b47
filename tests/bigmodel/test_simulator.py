"""The BigModel simulator over real HTTP: auth, chat, streaming, faults, images, embeddings."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import time

import httpx
import jwt
import pytest
from PIL import Image

from bigmodel.simulator import count_tokens, make_jwt, prompt_tokens, serve_in_thread
from tests.support import wait_until

KEY = "test-key-id.test-secret-value"
KEY_ID, SECRET = KEY.split(".")
CHAT = "chat/completions"
ID_RE = re.compile(r"^\d{14}[0-9a-f]{16}$")
HTTP = httpx.Client(timeout=10)  # one client for the whole module: building one is slow


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def chat_body(text: str = "Tell me about tokens", **extra) -> dict:
    return {"model": "glm-4-flash", "messages": user(text), **extra}


def error_of(response: httpx.Response) -> tuple[int, str, str]:
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert isinstance(error["code"], str)
    return response.status_code, error["code"], error["message"]


def sse_events(text: str) -> list:
    """``data:`` payloads in order; ``[DONE]`` stays a string."""
    out = []
    for line in text.split("\n"):
        if line.startswith("data: "):
            data = line[len("data: ") :]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


def stream(api: httpx.Client, body: dict) -> list:
    response = api.post(CHAT, json={**body, "stream": True})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return sse_events(response.text)


def streamed_text(events: list) -> str:
    return "".join(
        e["choices"][0]["delta"].get("content") or ""
        for e in events
        if isinstance(e, dict) and "choices" in e
    )


def reply(api: httpx.Client, body: dict) -> dict:
    response = api.post(CHAT, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def content(payload: dict) -> str:
    return payload["choices"][0]["message"]["content"]


def picture(fmt: str = "PNG", size=(32, 24)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 90)).save(out, format=fmt)
    return out.getvalue()


def vision_body(url: str, model: str = "glm-4v-plus", images: int = 1) -> dict:
    parts = [{"type": "image_url", "image_url": {"url": url}} for _ in range(images)]
    parts.append({"type": "text", "text": "What is in this picture?"})
    return {"model": model, "messages": [{"role": "user", "content": parts}]}


# --- token rule ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, tokens",
    [
        ("", 0),
        ("Hello, world!", 4),
        ("你好世界", 4),
        ("GLM-4 costs 0.1元", 8),
        ("snake_case  words\n\nhere", 3),
    ],
)
def test_count_tokens_rule(text, tokens):
    assert count_tokens(text) == tokens


# --- auth ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header, form",
    [
        (f"Bearer {KEY}", "bearer-key"),
        ("Bearer {jwt}", "bearer-jwt"),
        ("{jwt}", "jwt"),
        (KEY, "key"),
    ],
)
def test_each_authorization_form_is_accepted(sim, header, form):
    header = header.format(jwt=make_jwt(KEY))
    response = HTTP.post(
        f"{sim.base_url}/{CHAT}", json=chat_body(), headers={"Authorization": header}
    )
    assert response.status_code == 200, response.text
    [entry] = HTTP.get(f"{sim.root_url}/_sim/requests").json()["requests"]
    assert entry["auth"] == form
    assert KEY not in json.dumps(entry) and SECRET not in json.dumps(entry)


def expired_jwt() -> str:
    now = int(time.time() * 1000)
    return make_jwt(KEY, ttl_seconds=1, now_ms=now - 60_000)


def seconds_jwt() -> str:
    # A common client bug: exp in seconds. Read as milliseconds it is long expired.
    payload = {"api_key": KEY_ID, "exp": int(time.time()) + 3600, "timestamp": int(time.time())}
    return jwt.encode(
        payload, SECRET, algorithm="HS256", headers={"alg": "HS256", "sign_type": "SIGN"}
    )


@pytest.mark.parametrize(
    "header, code",
    [
        (None, "1001"),
        ("", "1001"),
        ("Bearer", "1001"),
        ("Bearer unknown-id.whatever", "1002"),
        ("Bearer not-a-key-at-all", "1002"),
        ("Bearer a.b.c.d", "1002"),
        ("Bearer aaa.bbb.ccc", "1002"),
        (f"Bearer {KEY_ID}.wrong-secret", "1000"),
        (f"{KEY_ID}.wrong-secret", "1000"),
        ("expired", "1003"),
        ("seconds", "1003"),
        ("badsig", "1004"),
    ],
)
def test_auth_failures(sim, header, code):
    tokens = {
        "expired": lambda: f"Bearer {expired_jwt()}",
        "seconds": seconds_jwt,
        "badsig": lambda: "Bearer " + make_jwt(f"{KEY_ID}.another-secret"),
    }
    if header in tokens:
        header = tokens[header]()
    headers = {} if header is None else {"Authorization": header}
    response = HTTP.post(f"{sim.base_url}/{CHAT}", json=chat_body(), headers=headers)
    status, got, message = error_of(response)
    assert (status, got) == (401, code)
    if code == "1001":
        assert message == "Header中未收到Authorization参数，无法进行身份验证。"
    if code == "1002":
        assert message == "Authorization Token非法，请确认Authorization Token正确传递。"
    if code == "1000":
        assert message == "身份验证失败。"


def test_jwt_expiry_is_in_milliseconds(sim):
    fresh = make_jwt(KEY, ttl_seconds=0.4)
    headers = {"Authorization": fresh}
    assert HTTP.post(f"{sim.base_url}/{CHAT}", json=chat_body(), headers=headers).status_code == 200
    time.sleep(0.5)
    response = HTTP.post(f"{sim.base_url}/{CHAT}", json=chat_body(), headers=headers)
    assert error_of(response)[:2] == (401, "1003")


def test_sdk_style_jwt_header(sim):
    header = jwt.get_unverified_header(make_jwt(KEY))
    assert header["alg"] == "HS256" and header["sign_type"] == "SIGN"


# --- chat shape ---------------------------------------------------------------------


def test_plain_chat_shape(api):
    payload = reply(api, chat_body())
    assert set(payload) == {"choices", "created", "id", "model", "request_id", "usage"}
    assert ID_RE.match(payload["id"])
    assert payload["request_id"] == payload["id"]
    assert abs(payload["created"] - time.time()) < 60
    assert payload["model"] == "glm-4-flash"
    [choice] = payload["choices"]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    assert 30 <= payload["usage"]["completion_tokens"] <= 160
    usage = payload["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_request_id_is_echoed(api):
    assert reply(api, chat_body(request_id="my-req-1"))["request_id"] == "my-req-1"


def test_stream_shape_matches_plain_reply(api):
    body = chat_body(seed=7)
    events = stream(api, body)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert len({c["id"] for c in chunks}) == 1 and ID_RE.match(chunks[0]["id"])
    assert all(set(c) <= {"id", "created", "model", "choices", "usage"} for c in chunks)
    for chunk in chunks[:-1]:
        [choice] = chunk["choices"]
        assert "finish_reason" not in choice and "usage" not in chunk
        assert choice["delta"]["role"] == "assistant"
        assert 1 <= count_tokens(choice["delta"]["content"]) <= 3
    last = chunks[-1]
    assert last["choices"][0]["finish_reason"] == "stop"
    assert last["choices"][0]["delta"]["content"] == ""
    text = streamed_text(events)
    assert text == content(reply(api, body))
    assert last["usage"]["completion_tokens"] == count_tokens(text)


def test_markdown_code_block_for_code_prompts(api):
    text = content(reply(api, chat_body("Show me some code for a sum")))
    assert "```python\n" in text


def test_long_marker_gives_a_long_reply(api):
    usage = reply(api, chat_body("Write an essay [[long]]"))["usage"]
    assert 550 <= usage["completion_tokens"] <= 700


def test_chinese_prompt_gets_a_chinese_reply(api):
    text = content(reply(api, chat_body("请介绍一下智谱的模型")))
    assert re.search(r"[\u4e00-\u9fff]", text)


# --- determinism and tokens -----------------------------------------------------------


def test_same_seed_same_reply_different_seed_differs(api):
    first = content(reply(api, chat_body(seed=1)))
    assert content(reply(api, chat_body(seed=1))) == first
    assert content(reply(api, chat_body(seed=2))) != first


def test_temperature_matters_only_when_sampling(api):
    hot, cold = chat_body(temperature=0.9), chat_body(temperature=0.2)
    assert content(reply(api, hot)) != content(reply(api, cold))
    greedy = [content(reply(api, {**b, "do_sample": False})) for b in (hot, cold)]
    assert greedy[0] == greedy[1]


def test_fault_markers_do_not_change_the_reply(api):
    plain = content(reply(api, chat_body("Explain caching", seed=3)))
    marked = content(reply(api, chat_body("Explain caching [[fault:latency=1]]", seed=3)))
    assert marked == plain


def test_token_counts_follow_count_tokens(api):
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi there, 你好!"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "How many tokens is this?"},
    ]
    payload = reply(api, {"model": "glm-4-flash", "messages": messages})
    expected = sum(count_tokens(m["content"]) + 4 for m in messages)
    assert payload["usage"]["prompt_tokens"] == expected == prompt_tokens(messages)
    assert payload["usage"]["completion_tokens"] == count_tokens(content(payload))


def test_max_tokens_truncates_with_length(api):
    full = content(reply(api, chat_body(seed=5)))
    payload = reply(api, chat_body(seed=5, max_tokens=7))
    assert payload["choices"][0]["finish_reason"] == "length"
    assert payload["usage"]["completion_tokens"] == 7
    assert full.startswith(content(payload))
    events = stream(api, chat_body(seed=5, max_tokens=7))
    assert events[-2]["choices"][0]["finish_reason"] == "length"
    assert streamed_text(events) == content(payload)


@pytest.mark.parametrize("as_list", [True, False])
def test_stop_cuts_before_the_stop_word(api, as_list):
    full = content(reply(api, chat_body(seed=11)))
    word = full.split()[6]
    stop = [word] if as_list else word
    payload = reply(api, chat_body(seed=11, stop=stop))
    assert content(payload) == full[: full.index(word)]
    assert payload["choices"][0]["finish_reason"] == "stop"


def test_null_optional_fields_are_tolerated(api):
    nulls = dict.fromkeys(
        [
            "response_format",
            "thinking",
            "tools",
            "tool_choice",
            "stop",
            "max_tokens",
            "temperature",
            "top_p",
            "seed",
            "request_id",
        ]
    )
    assert reply(api, chat_body(**nulls))["choices"][0]["finish_reason"] == "stop"


# --- validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, expected",
    [
        (
            {"model": "glm-9000", "messages": user("hi")},
            (400, "1211", "模型不存在，请检查模型代码。"),
        ),
        ({"messages": user("hi")}, (400, "1213", None)),
        ({"model": "glm-4-flash"}, (400, "1213", None)),
        (
            {"model": "glm-4-flash", "messages": []},
            (400, "1214", "messages 参数非法。请检查文档。"),
        ),
        (
            {"model": "glm-4-flash", "messages": [{"role": "system", "content": "Be nice."}]},
            (400, "1214", "messages 参数非法。请检查文档。"),
        ),
        (
            {"model": "glm-4-flash", "messages": [{"role": "wizard", "content": "hi"}]},
            (400, "1214", None),
        ),
        (
            {
                "model": "glm-4-flash",
                "messages": user("hi") + [{"role": "assistant", "content": "x"}],
            },
            (400, "1214", None),
        ),
        ({"model": "embedding-3", "messages": user("hi")}, (400, "1212", None)),
        (chat_body(temperature=1.5), (400, "1214", None)),
        (chat_body(top_p=-0.1), (400, "1214", None)),
        (chat_body(max_tokens=0), (400, "1210", "max_tokens参数非法：限制数值范围[1,4095]")),
        (chat_body(max_tokens=5000), (400, "1210", "max_tokens参数非法：限制数值范围[1,4095]")),
        (
            {"model": "charglm-3", "messages": user("word " * 5000)},
            (400, "1261", "Prompt exceeds max length"),
        ),
    ],
)
def test_chat_validation(api, body, expected):
    status, code, message = error_of(api.post(CHAT, json=body))
    assert (status, code) == expected[:2]
    if expected[2]:
        assert message == expected[2]
    if body.get("temperature") is not None:
        assert "temperature" in message


def test_invalid_json_is_refused(api):
    response = api.post(CHAT, content=b"{not json", headers={"content-type": "application/json"})
    assert error_of(response)[:2] == (400, "1210")


def test_unknown_route_answers_json(api):
    assert error_of(api.post("nope"))[0] == 404


def test_strict_mode_refuses_zero_and_one():
    with serve_in_thread(keys=[KEY], strict=True) as strict:
        url, headers = f"{strict.base_url}/{CHAT}", {"Authorization": KEY}
        for field, value in [("temperature", 0), ("temperature", 1), ("top_p", 1.0)]:
            response = HTTP.post(url, json=chat_body(**{field: value}), headers=headers)
            status, code, message = error_of(response)
            assert (status, code) == (400, "1214") and field in message
        ok = HTTP.post(url, json=chat_body(temperature=0.01, top_p=0.99), headers=headers)
        assert ok.status_code == 200


def test_lenient_mode_accepts_zero_and_one(api):
    assert api.post(CHAT, json=chat_body(temperature=0, top_p=1)).status_code == 200


# --- vision -------------------------------------------------------------------------


def test_vision_accepts_bare_and_data_url_base64(api):
    bare = base64.b64encode(picture("PNG")).decode()
    data_url = "data:image/jpeg;base64," + base64.b64encode(picture("JPEG")).decode()
    for url in (bare, data_url):
        payload = reply(api, vision_body(url))
        text_tokens = count_tokens("What is in this picture?")
        assert payload["usage"]["prompt_tokens"] == 1000 + text_tokens + 4


def test_vision_accepts_http_urls_even_on_flash(api):
    reply(api, vision_body("https://example.com/cat.jpg", model="glm-4v-flash"))


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("!!!not base64!!!", "base64"),
        (base64.b64encode(b"just some bytes, not an image").decode(), "图片"),
        (base64.b64encode(picture("PNG"))[:-12].decode(), "图片"),
        (base64.b64encode(picture("GIF")).decode(), "JPEG"),
    ],
)
def test_vision_refuses_bad_images(api, url, fragment):
    status, code, message = error_of(api.post(CHAT, json=vision_body(url)))
    assert (status, code) == (400, "1210") and fragment in message


def test_vision_refuses_oversized_images(api):
    big = base64.b64encode(picture("PNG", size=(6001, 10))).decode()
    assert error_of(api.post(CHAT, json=vision_body(big)))[:2] == (400, "1210")


def test_glm_4v_flash_refuses_base64(api):
    url = base64.b64encode(picture()).decode()
    status, code, message = error_of(api.post(CHAT, json=vision_body(url, "glm-4v-flash")))
    assert (status, code) == (400, "1210") and "base64" in message and "URL" in message


def test_too_many_images(api):
    url = base64.b64encode(picture()).decode()
    assert error_of(api.post(CHAT, json=vision_body(url, "glm-4v", images=2)))[:2] == (400, "1210")
    reply(api, vision_body(url, "glm-4v-plus", images=2))


def test_images_to_a_text_model_are_refused(api):
    body = vision_body("https://example.com/cat.jpg", model="glm-4-flash")
    assert error_of(api.post(CHAT, json=body))[:2] == (400, "1214")


# --- faults -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "marker, status, code, message",
    [
        ("429", 429, "1302", "您当前使用该API的并发数过高，请降低并发，或联系客服增加限额。"),
        ("1305", 429, "1305", "当前API请求过多，请稍后重试。"),
        ("1113", 429, "1113", "余额不足或无可用资源包,请充值。"),
        ("1214", 400, "1214", "messages 参数非法。请检查文档。"),
        ("1261", 400, "1261", "Prompt exceeds max length"),
        ("500", 500, "500", "内部错误"),
        (
            "1301",
            400,
            "1301",
            "系统检测到输入或生成内容可能包含不安全或敏感内容，"
            "请您避免输入易产生敏感内容的提示语，感谢您的配合。",
        ),
    ],
)
@pytest.mark.parametrize("streamed", [False, True])
def test_error_faults(api, marker, status, code, message, streamed):
    body = chat_body(f"hello [[fault:{marker}]]", stream=streamed)
    response = api.post(CHAT, json=body)
    assert error_of(response) == (status, code, message)
    if code == "1301":
        assert response.json()["contentFilter"] == [{"level": 1, "role": "user"}]


def test_fault_marker_only_counts_in_the_last_user_message(api):
    messages = [
        {"role": "user", "content": "[[fault:500]]"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "hi"},
    ]
    reply(api, {"model": "glm-4-flash", "messages": messages})


def test_drop_fault_cuts_the_stream(api, sim):
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(CHAT, json=chat_body("hello [[fault:drop]]", stream=True))
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(CHAT, json=chat_body("hello [[fault:drop]]"))
    assert HTTP.get(f"{sim.root_url}/_sim/stats").json()["dropped"] == 2


def test_drop_fault_sends_a_few_chunks_first(sim):
    seen = []
    body = chat_body("[[fault:latency=5]] [[fault:drop]] hi", stream=True)
    with pytest.raises(httpx.RemoteProtocolError):
        with HTTP.stream(
            "POST", f"{sim.base_url}/{CHAT}", headers={"Authorization": KEY}, json=body
        ) as response:
            for line in response.iter_lines():
                seen.append(line)
    events = sse_events("\n".join(seen))
    assert len(events) == 3 and "[DONE]" not in events


def test_nousage_fault(api):
    events = stream(api, chat_body("hi [[fault:nousage]]"))
    assert events[-1] == "[DONE]"
    assert events[-2]["choices"][0]["finish_reason"] == "stop" and "usage" not in events[-2]


def test_midstream_error_fault(api):
    events = stream(api, chat_body("hi [[fault:midstream-error]]"))
    assert "[DONE]" not in events
    assert events[-1]["error"]["code"] == "1214" and len(events) == 4
    assert error_of(api.post(CHAT, json=chat_body("hi [[fault:midstream-error]]")))[1] == "1214"


@pytest.mark.parametrize("reason", ["sensitive", "network_error"])
def test_finish_reason_faults(api, reason):
    full = content(reply(api, chat_body("Explain retries", seed=4)))
    payload = reply(api, chat_body(f"Explain retries [[fault:{reason}]]", seed=4))
    assert payload["choices"][0]["finish_reason"] == reason
    assert full.startswith(content(payload)) and len(content(payload)) < len(full)
    events = stream(api, chat_body(f"Explain retries [[fault:{reason}]]", seed=4))
    assert events[-2]["choices"][0]["finish_reason"] == reason and events[-1] == "[DONE]"


def test_flaky_fault_fails_once_per_body(api):
    body = chat_body("retry me [[fault:flaky]]", seed=99)
    assert error_of(api.post(CHAT, json={**body, "request_id": "a"}))[:2] == (500, "500")
    assert api.post(CHAT, json={**body, "request_id": "b"}).status_code == 200
    assert api.post(CHAT, json=body).status_code == 200
    assert error_of(api.post(CHAT, json={**body, "seed": 100}))[0] == 500


def test_latency_fault_applies_per_chunk(api):
    body = chat_body("Say a little", max_tokens=12)
    started = time.monotonic()
    events = stream(api, {**body, "messages": user("Say a little [[fault:latency=40]]")})
    elapsed = time.monotonic() - started
    assert elapsed >= 0.04 * (len(events) - 1) * 0.9
    assert streamed_text(events) == streamed_text(stream(api, body))


def test_ttft_fault_delays_only_the_first_chunk(api):
    body = chat_body("Say a little [[fault:ttft=300]]", max_tokens=12, stream=True)
    started = time.monotonic()
    with api.stream("POST", CHAT, json=body) as response:
        lines = response.iter_lines()
        next(line for line in lines if line.startswith("data:"))
        first = time.monotonic() - started
        rest = [line for line in lines if line.startswith("data:")]
        last = time.monotonic() - started
    assert first >= 0.3
    assert last - first < 0.3  # the other chunks come at the usual pace (none here)
    assert len(rest) >= 2


def test_combined_markers(api):
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(CHAT, json=chat_body("[[fault:latency=5]] [[fault:drop]] go", stream=True))
    events = stream(api, chat_body("go [[fault:latency=1,nousage]]"))
    assert "usage" not in events[-2]


def test_default_fault_applies_to_every_request(api, sim):
    HTTP.post(f"{sim.root_url}/_sim/config", json={"default_fault": "1113"})
    assert error_of(api.post(CHAT, json=chat_body()))[:2] == (429, "1113")
    embedding = api.post("embeddings", json={"model": "embedding-3", "input": "x"})
    assert error_of(embedding)[1] == "1113"
    assert (
        HTTP.post(f"{sim.root_url}/_sim/config", json={"default_fault": "nonsense"}).status_code
        == 400
    )


def test_unknown_fault_names_are_rejected_at_startup():
    with pytest.raises(ValueError):
        serve_in_thread(keys=[KEY], default_fault="explode")


def test_client_disconnect_is_counted(sim):
    body = json.dumps(chat_body("[[fault:latency=30]] talk", stream=True)).encode()

    async def read_a_little_then_leave():
        reader, writer = await asyncio.open_connection(sim.host, sim.port)
        writer.write(_raw_post("/api/paas/v4/chat/completions", body))
        await writer.drain()
        await reader.readuntil(b"data: ")
        writer.close()
        await writer.wait_closed()

    asyncio.run(read_a_little_then_leave())
    stats_url = f"{sim.root_url}/_sim/stats"
    wait_until(lambda: HTTP.get(stats_url).json()["disconnects"] == 1)
    assert HTTP.get(stats_url).json()["active_streams"] == 0


def _raw_post(path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: sim\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


def test_holds_500_concurrent_streams(sim):
    async def one(i: int) -> bytes:
        body = json.dumps(
            chat_body(f"stream {i} [[fault:latency=40]]", stream=True, max_tokens=16)
        ).encode()
        reader, writer = await asyncio.open_connection(sim.host, sim.port)
        writer.write(_raw_post("/api/paas/v4/chat/completions", body))
        await writer.drain()
        data = await reader.read()
        writer.close()
        return data

    async def many() -> list[bytes]:
        return await asyncio.gather(*(one(i) for i in range(500)))

    results = asyncio.run(many())
    assert all(b"data: [DONE]" in r and b" 200 OK" in r[:20] for r in results)
    stats = HTTP.get(f"{sim.root_url}/_sim/stats").json()
    assert stats["peak_streams"] >= 450 and stats["disconnects"] == 0


# --- async chat ---------------------------------------------------------------------


def test_async_submit_and_poll(api):
    body = chat_body("Summarise the meeting", seed=8)
    submitted = api.post("async/chat/completions", json=body).json()
    assert submitted["task_status"] == "PROCESSING" and submitted["model"] == "glm-4-flash"
    task_id = submitted["id"]
    first = api.get(f"async-result/{task_id}").json()
    assert first["task_status"] == "PROCESSING" and "choices" not in first
    wait_until(lambda: api.get(f"async-result/{task_id}").json()["task_status"] == "SUCCESS")
    done = api.get(f"async-result/{task_id}").json()
    assert done["id"] == task_id and done["request_id"] == submitted["request_id"]
    assert done["choices"][0]["message"]["content"] == content(reply(api, body))
    assert done["usage"]["completion_tokens"] > 0


def test_async_task_fail_and_unknown_id(api):
    task_id = api.post("async/chat/completions", json=chat_body("x [[fault:task-fail]]")).json()[
        "id"
    ]
    wait_until(lambda: api.get(f"async-result/{task_id}").json()["task_status"] == "FAIL")
    response = api.get("async-result/123-456")
    assert error_of(response) == (404, "1233", "任务不存在")


# --- images -------------------------------------------------------------------------


def test_image_generation_serves_a_png(api, sim):
    payload = api.post(
        "images/generations", json={"model": "cogview-3-flash", "prompt": "a red fox"}
    ).json()
    assert set(payload) == {"created", "data", "content_filter"}
    url = payload["data"][0]["url"]
    assert url.startswith(f"{sim.root_url}/files/") and url.endswith("_0.png")
    png = HTTP.get(url)
    assert png.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).size == (1024, 1024)
    assert HTTP.get(url).content == png.content


def test_image_generation_sizes(api):
    payload = api.post(
        "images/generations",
        json={"model": "cogview-3-plus", "prompt": "a tall tower", "size": "768x1344"},
    ).json()
    image = Image.open(io.BytesIO(HTTP.get(payload["data"][0]["url"]).content))
    assert image.size == (768, 1344) and image.format == "PNG"
    refused = api.post(
        "images/generations",
        json={"model": "cogview-3", "prompt": "a tall tower", "size": "768x1344"},
    )
    assert error_of(refused)[:2] == (400, "1214")
    odd = api.post(
        "images/generations", json={"model": "cogview-3-plus", "prompt": "x", "size": "100x100"}
    )
    assert error_of(odd)[:2] == (400, "1214")


@pytest.mark.parametrize(
    "body, code",
    [
        ({"model": "cogview-3-plus"}, "1213"),
        ({"model": "cogview-3-plus", "prompt": "x" * 834}, "1261"),
        ({"model": "glm-4-flash", "prompt": "x"}, "1212"),
        ({"model": "cogview-3-plus", "prompt": "x [[fault:1301]]"}, "1301"),
    ],
)
def test_image_generation_validation(api, body, code):
    assert error_of(api.post("images/generations", json=body))[1] == code


def test_expired_files_404(api, sim):
    url = api.post("images/generations", json={"model": "cogview-3", "prompt": "a boat"}).json()[
        "data"
    ][0]["url"]
    assert HTTP.get(url).status_code == 200
    assert HTTP.post(f"{sim.root_url}/_sim/expire-files").json()["expired"] >= 1
    assert HTTP.get(url).status_code == 404


# --- embeddings ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra, dims",
    [
        ({"model": "embedding-2"}, 1024),
        ({"model": "embedding-3"}, 2048),
        ({"model": "embedding-3", "dimensions": 256}, 256),
        ({"model": "embedding-3", "dimensions": None}, 2048),
    ],
)
def test_embedding_dimensions(api, extra, dims):
    payload = api.post("embeddings", json={"input": "hello world", **extra}).json()
    assert payload["object"] == "list" and payload["model"] == extra["model"]
    [item] = payload["data"]
    assert item["object"] == "embedding" and item["index"] == 0
    assert len(item["embedding"]) == dims
    assert abs(sum(v * v for v in item["embedding"]) - 1) < 1e-3
    assert payload["usage"] == {"prompt_tokens": 2, "completion_tokens": 0, "total_tokens": 2}


def test_embeddings_list_input_is_deterministic(api):
    texts = ["first text", "第二段文字", "first text"]
    payload = api.post(
        "embeddings", json={"model": "embedding-3", "input": texts, "dimensions": 512}
    ).json()
    vectors = [d["embedding"] for d in payload["data"]]
    assert [d["index"] for d in payload["data"]] == [0, 1, 2]
    assert vectors[0] == vectors[2] != vectors[1]
    assert payload["usage"]["prompt_tokens"] == sum(count_tokens(t) for t in texts)


@pytest.mark.parametrize(
    "body, code",
    [
        ({"model": "embedding-3"}, "1213"),
        ({"model": "embedding-3", "input": []}, "1214"),
        ({"model": "embedding-3", "input": "x", "dimensions": 300}, "1214"),
        ({"model": "embedding-2", "input": "x", "dimensions": 256}, "1214"),
        ({"model": "embedding-3", "input": ["x"] * 65}, "1214"),
        ({"model": "glm-4-flash", "input": "x"}, "1212"),
    ],
)
def test_embedding_validation(api, body, code):
    assert error_of(api.post("embeddings", json=body))[1] == code


# --- /_sim --------------------------------------------------------------------------


def test_request_log_and_reset(api, sim):
    api.post(CHAT, json=chat_body("logged", seed=1, request_id="r-1"))
    api.post("embeddings", json={"model": "embedding-2", "input": "x"})
    log = HTTP.get(f"{sim.root_url}/_sim/requests").json()["requests"]
    assert [e["path"] for e in log] == ["/api/paas/v4/chat/completions", "/api/paas/v4/embeddings"]
    assert log[0]["model"] == "glm-4-flash" and log[0]["status"] == 200
    assert log[0]["body"] == chat_body("logged", seed=1, request_id="r-1")
    only = HTTP.get(f"{sim.root_url}/_sim/requests", params={"path": "embeddings"}).json()
    assert len(only["requests"]) == 1
    stats = HTTP.get(f"{sim.root_url}/_sim/stats").json()
    assert stats["requests"] == 2 and stats["by_path"]["/api/paas/v4/embeddings"] == 1
    HTTP.post(f"{sim.root_url}/_sim/reset")
    assert HTTP.get(f"{sim.root_url}/_sim/requests").json()["requests"] == []
    assert HTTP.get(f"{sim.root_url}/_sim/health").json() == {"ok": True}


def test_the_request_log_answers_since_a_point_by_request_id_and_says_when_it_dropped_some(
    api, sim, monkeypatch
):
    from bigmodel.simulator import state

    start = HTTP.get(f"{sim.root_url}/_sim/requests").json()["seq"]
    for n in range(3):
        api.post(CHAT, json=chat_body(f"n{n}", request_id=f"id-{n}"))
    since = HTTP.get(f"{sim.root_url}/_sim/requests", params={"since": start}).json()
    assert [e["body"]["request_id"] for e in since["requests"]] == ["id-0", "id-1", "id-2"]
    assert since["dropped"] == 0 and since["seq"] == start + 3
    one = HTTP.get(f"{sim.root_url}/_sim/requests", params={"request_id": "id-1"}).json()[
        "requests"
    ]
    assert [e["seq"] for e in one] == [start + 2]
    log = sim.app.state.sim.log
    monkeypatch.setattr(sim.app.state.sim, "log", state.deque(log, maxlen=2))
    api.post(CHAT, json=chat_body("n3", request_id="id-3"))
    full = HTTP.get(f"{sim.root_url}/_sim/requests").json()
    assert full["dropped"] == 2 and full["oldest"] == start + 3 and len(full["requests"]) == 2
