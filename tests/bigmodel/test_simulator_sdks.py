"""The official SDKs (zhipuai, zai-sdk and openai) pointed at the simulator via ``base_url``."""

from __future__ import annotations

import io
import json
import subprocess
import time
from pathlib import Path

import httpx
import openai
import pytest
import zhipuai
from PIL import Image
from zhipuai import ZhipuAI

from bigmodel.simulator import count_tokens

KEY = "test-key-id.test-secret-value"
MESSAGES = [{"role": "user", "content": "How do SDKs talk to BigModel?"}]


def last_request(http: httpx.Client, sim) -> dict:
    return http.get(f"{sim.url}/_sim/requests").json()["requests"][-1]


@pytest.fixture(params=["api-key", "jwt"])
def zhipu(request, sim):
    """Both auth styles of the SDK: ``Bearer <api_key>`` (default) and ``Bearer <jwt>``."""
    client = ZhipuAI(
        api_key=KEY,
        base_url=sim.base_url,
        max_retries=0,
        disable_token_cache=request.param == "api-key",
    )
    yield client
    client.close()


@pytest.fixture
def oai(sim):
    client = openai.OpenAI(api_key=KEY, base_url=sim.base_url, max_retries=0)
    yield client
    client.close()


# --- zhipuai ------------------------------------------------------------------------


def test_zhipuai_chat(zhipu, sim, http):
    result = zhipu.chat.completions.create(model="glm-4-flash", messages=MESSAGES, seed=3)
    text = result.choices[0].message.content
    assert text and result.choices[0].finish_reason == "stop"
    assert result.usage.completion_tokens == count_tokens(text)
    assert result.request_id == result.id
    entry = last_request(http, sim)
    assert entry["auth"] == ("bearer-key" if zhipu._disable_token_cache else "bearer-jwt")


def test_zhipuai_sends_nulls_and_clamps_temperature(zhipu, sim, http):
    zhipu.chat.completions.create(model="glm-4-flash", messages=MESSAGES, temperature=0, top_p=1)
    body = last_request(http, sim)["body"]
    assert body["temperature"] == 0.01 and body["top_p"] == 0.99 and body["do_sample"] is False
    assert body["response_format"] is None and body["thinking"] is None


def test_zhipuai_stream(zhipu):
    chunks = list(
        zhipu.chat.completions.create(model="glm-4-flash", messages=MESSAGES, stream=True)
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage.completion_tokens == count_tokens(text) > 0
    assert all(c.usage is None for c in chunks[:-1])
    plain = zhipu.chat.completions.create(model="glm-4-flash", messages=MESSAGES)
    assert plain.choices[0].message.content == text


def test_zhipuai_async_chat(zhipu):
    task = zhipu.chat.asyncCompletions.create(model="glm-4-flash", messages=MESSAGES)
    assert task.task_status == "PROCESSING"
    for _ in range(50):
        result = zhipu.chat.asyncCompletions.retrieve_completion_result(id=task.id)
        if result.task_status == "SUCCESS":
            break
        time.sleep(0.05)
    assert result.task_status == "SUCCESS" and result.choices[0].message.content


def test_zhipuai_images(zhipu, http):
    result = zhipu.images.generations(
        model="cogview-3-plus", prompt="a lighthouse", size="1344x768"
    )
    png = http.get(result.data[0].url)
    assert Image.open(io.BytesIO(png.content)).size == (1344, 768)


def test_zhipuai_embeddings(zhipu):
    result = zhipu.embeddings.create(model="embedding-3", input=["a", "b"], dimensions=256)
    assert [len(d.embedding) for d in result.data] == [256, 256]
    assert result.usage.prompt_tokens == 2
    assert len(zhipu.embeddings.create(model="embedding-2", input="a").data[0].embedding) == 1024


@pytest.mark.parametrize(
    "marker, error, status, code",
    [
        ("1113", zhipuai.APIReachLimitError, 429, "1113"),
        ("1305", zhipuai.APIReachLimitError, 429, "1305"),
        ("1214", zhipuai.APIRequestFailedError, 400, "1214"),
        ("500", zhipuai.APIInternalError, 500, "500"),
    ],
)
def test_zhipuai_errors(zhipu, marker, error, status, code):
    messages = [{"role": "user", "content": f"hi [[fault:{marker}]]"}]
    with pytest.raises(error) as caught:
        zhipu.chat.completions.create(model="glm-4-flash", messages=messages)
    assert caught.value.status_code == status
    assert caught.value.response.json()["error"]["code"] == code
    assert f'"code":"{code}"' in str(caught.value)


def test_zhipuai_auth_error(sim):
    client = ZhipuAI(api_key="test-key-id.wrong", base_url=sim.base_url, max_retries=0)
    with pytest.raises(zhipuai.APIAuthenticationError) as caught:
        client.chat.completions.create(model="glm-4-flash", messages=MESSAGES)
    assert caught.value.response.json()["error"]["code"] == "1000"


def test_zhipuai_midstream_error(zhipu):
    messages = [{"role": "user", "content": "hi [[fault:midstream-error]]"}]
    stream = zhipu.chat.completions.create(model="glm-4-flash", messages=messages, stream=True)
    with pytest.raises(zhipuai.APIResponseError) as caught:
        list(stream)
    assert caught.value.json_data["code"] == "1214"


def test_zhipuai_dropped_stream_leaks_an_httpx_error(zhipu):
    # The SDK does not wrap errors raised while iterating a stream.
    messages = [{"role": "user", "content": "hi [[fault:drop]]"}]
    with pytest.raises(httpx.RemoteProtocolError):
        list(zhipu.chat.completions.create(model="glm-4-flash", messages=messages, stream=True))


def test_zhipuai_stream_error_before_first_byte(zhipu):
    messages = [{"role": "user", "content": "hi [[fault:1113]]"}]
    with pytest.raises(zhipuai.APIReachLimitError) as caught:
        list(zhipu.chat.completions.create(model="glm-4-flash", messages=messages, stream=True))
    assert caught.value.response.json()["error"]["code"] == "1113"


# --- openai -------------------------------------------------------------------------


def test_openai_chat(oai, sim, http):
    result = oai.chat.completions.create(model="glm-4-flash", messages=MESSAGES, seed=3)
    assert result.choices[0].finish_reason == "stop"
    assert result.usage.completion_tokens == count_tokens(result.choices[0].message.content)
    assert last_request(http, sim)["auth"] == "bearer-key"


def test_openai_stream(oai):
    chunks = list(oai.chat.completions.create(model="glm-4-flash", messages=MESSAGES, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage.completion_tokens == count_tokens(text) > 0


def test_openai_images(oai, http):
    result = oai.images.generate(model="cogview-3-flash", prompt="a kite")
    png = http.get(result.data[0].url)
    assert Image.open(io.BytesIO(png.content)).size == (1024, 1024)


def test_openai_embeddings(oai):
    result = oai.embeddings.create(model="embedding-3", input="hello")
    assert len(result.data[0].embedding) == 2048
    assert result.usage.prompt_tokens == 1


@pytest.mark.parametrize(
    "marker, error, code",
    [
        ("1113", openai.RateLimitError, "1113"),
        ("1214", openai.BadRequestError, "1214"),
        ("1301", openai.BadRequestError, "1301"),
    ],
)
def test_openai_errors(oai, marker, error, code):
    messages = [{"role": "user", "content": f"hi [[fault:{marker}]]"}]
    with pytest.raises(error) as caught:
        oai.chat.completions.create(model="glm-4-flash", messages=messages)
    assert caught.value.code == code
    assert caught.value.body["code"] == code


def test_openai_midstream_error(oai):
    messages = [{"role": "user", "content": "hi [[fault:midstream-error]]"}]
    with pytest.raises(openai.APIError) as caught:
        list(oai.chat.completions.create(model="glm-4-flash", messages=messages, stream=True))
    assert caught.value.code == "1214"


def test_openai_dropped_stream(oai):
    messages = [{"role": "user", "content": "hi [[fault:drop]]"}]
    with pytest.raises(openai.APIConnectionError):
        list(oai.chat.completions.create(model="glm-4-flash", messages=messages, stream=True))


def test_openai_asks_for_base64_embeddings_but_takes_floats(oai, sim, http):
    oai.embeddings.create(model="embedding-2", input="x")
    assert last_request(http, sim)["body"]["encoding_format"] == "base64"


# --- zai-sdk (its own venv) ------------------------------------------------------------

ZAI_PYTHON = Path(__file__).resolve().parents[2] / ".venv-zai" / "bin" / "python"


@pytest.mark.parametrize("auth", ["key", "jwt"])
def test_the_zai_sdk_thinks_answers_in_json_reports_cache_hits_and_calls_functions(sim, http, auth):
    assert ZAI_PYTHON.exists(), "the zai-sdk venv is missing: `make test` makes it"
    script = Path(__file__).with_name("zai_calls.py")
    done = subprocess.run(
        [ZAI_PYTHON, script, sim.base_url, KEY, auth],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["plain"] and got["plain_completion_tokens"] == count_tokens(got["plain"])
    assert got["thinking"] and got["answer"]
    assert got["reasoning_tokens"] == count_tokens(got["thinking"])
    assert got["completion_tokens"] == count_tokens(got["thinking"]) + count_tokens(got["answer"])
    assert not got["off_reasoning"]
    assert isinstance(json.loads(got["json"]), dict)
    assert got["cached_tokens"] > 0
    assert got["called"] == ["get_weather", '{"city": "example"}']
    assert got["answered"].startswith("The tool answered: Windy.")
    assert last_request(http, sim)["auth"] == ("bearer-key" if auth == "key" else "bearer-jwt")


WEB_SEARCH = {
    "type": "web_search",
    "web_search": {"enable": True, "search_result": True, "count": 2},
}


def test_zhipuai_thinks_answers_in_json_and_searches(zhipu):
    chunks = list(
        zhipu.chat.completions.create(
            model="glm-4.7", messages=MESSAGES, stream=True, thinking={"type": "enabled"}
        )
    )
    thinking = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks)
    answer = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert thinking and answer
    assert chunks[-1].usage.completion_tokens == count_tokens(thinking) + count_tokens(answer)
    as_json = zhipu.chat.completions.create(
        model="glm-4.7",
        messages=MESSAGES,
        thinking={"type": "disabled"},
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(as_json.choices[0].message.content), dict)
    searched = zhipu.chat.completions.create(
        model="glm-4.7", messages=MESSAGES, thinking={"type": "disabled"}, tools=[WEB_SEARCH]
    )
    assert "[ref_1]" in searched.choices[0].message.content


def test_openai_sends_glm_fields_in_extra_body_and_reads_them_back(oai, sim, http):
    plain = oai.chat.completions.create(
        model="glm-4.7",
        messages=MESSAGES,
        response_format={"type": "json_object"},
        extra_body={"thinking": {"type": "enabled"}, "tools": [WEB_SEARCH]},
    )
    message = plain.choices[0].message
    assert message.model_extra["reasoning_content"]  # thinking, apart from the answer
    assert isinstance(json.loads(message.content), dict)
    assert [page["refer"] for page in plain.model_extra["web_search"]] == ["ref_1", "ref_2"]
    usage = plain.usage
    assert usage.completion_tokens_details.reasoning_tokens == count_tokens(
        message.model_extra["reasoning_content"]
    )
    assert last_request(http, sim)["body"]["thinking"] == {"type": "enabled"}


WEATHER_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def test_openai_streams_a_function_call_and_sends_its_result_back(oai):
    tools = WEATHER_TOOLS
    asked = [{"role": "user", "content": "Please get_weather for Xi'an"}]
    name, arguments, call_id = "", "", ""
    for chunk in oai.chat.completions.create(
        model="glm-4.7", messages=asked, tools=tools, stream=True
    ):
        for part in chunk.choices[0].delta.tool_calls or ():
            call_id = part.id or call_id
            name += part.function.name or ""
            arguments += part.function.arguments or ""
    assert name == "get_weather" and json.loads(arguments) == {"city": "example"}
    call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
    answer = oai.chat.completions.create(
        model="glm-4.7",
        messages=[
            *asked,
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call_id, "content": "Windy"},
        ],
        tools=tools,
        extra_body={"thinking": {"type": "disabled"}},
    )
    assert "Windy" in answer.choices[0].message.content


def test_zhipuai_streams_a_function_call_and_sends_its_result_back(zhipu):
    asked = [{"role": "user", "content": "Please get_weather for Xi'an"}]
    parts = []
    for chunk in zhipu.chat.completions.create(
        model="glm-4.7", messages=asked, tools=WEATHER_TOOLS, stream=True
    ):
        parts += chunk.choices[0].delta.tool_calls or []
    call_id = next(part.id for part in parts if part.id)
    arguments = "".join(part.function.arguments or "" for part in parts)
    assert parts[0].function.name == "get_weather"
    assert json.loads(arguments) == {"city": "example"}
    call = {
        "id": call_id,
        "type": "function",
        "function": {"name": "get_weather", "arguments": arguments},
    }
    answer = zhipu.chat.completions.create(
        model="glm-4.7",
        messages=[
            *asked,
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call_id, "content": "Windy"},
        ],
        tools=WEATHER_TOOLS,
        thinking={"type": "disabled"},
    )
    assert "Windy" in answer.choices[0].message.content
