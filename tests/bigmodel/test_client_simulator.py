"""The client against the simulator over real HTTP: the retry policy and every endpoint."""

import asyncio

import pytest

from bigmodel.catalogue import default_catalogue
from bigmodel.client import AsyncBigModelClient, BigModelClient
from bigmodel.errors import (
    AuthenticationError,
    InsufficientBalance,
    InvalidParameter,
    PromptTooLong,
    UnsafeContent,
)
from bigmodel.params import build_chat_body

SPEC = default_catalogue()["glm-4-flash"]


def body(text: str, **params) -> dict:
    return build_chat_body(SPEC, messages=[{"role": "user", "content": text}], **params)


def chat_calls(http, sim) -> int:
    return len(
        http.get(f"{sim.url}/_sim/requests", params={"path": "/chat/completions"}).json()[
            "requests"
        ]
    )


@pytest.fixture
def client(sim, simulator_key):
    with BigModelClient(simulator_key, sim.base_url, max_retries=2, backoff_base=0) as client:
        yield client


def test_a_transient_failure_is_retried_and_succeeds(client, sim, http):
    result = client.chat(body("Hello [[fault:flaky]]"))
    assert result.content and result.usage.completion_tokens > 0
    assert chat_calls(http, sim) == 2


@pytest.mark.parametrize(
    ("marker", "error"),
    [("1113", InsufficientBalance), ("1261", PromptTooLong), ("1301", UnsafeContent)],
)
def test_permanent_errors_are_not_retried(client, sim, http, marker, error):
    with pytest.raises(error) as raised:
        client.chat(body(f"Hello [[fault:{marker}]]"))
    assert f"({marker})" in str(raised.value)
    assert chat_calls(http, sim) == 1


def test_rate_limits_are_retried_then_reported(client, sim, http):
    with pytest.raises(Exception) as raised:
        client.chat(body("Hello [[fault:1305]]"))
    assert raised.value.code == "1305" and raised.value.retryable
    assert chat_calls(http, sim) == 3


def test_a_wrong_secret_is_an_authentication_error_without_the_secret(sim):
    with BigModelClient("test-key-id.wrong-secret", sim.base_url, max_retries=0) as client:
        with pytest.raises(AuthenticationError) as raised:
            client.chat(body("Hello"))
    assert "wrong-secret" not in str(raised.value) and "wrong-secret" not in repr(raised.value)


def test_the_stream_carries_exact_usage(client):
    with client.chat_stream(body("Hello", stream=True)) as stream:
        text = "".join(chunk.delta for chunk in stream)
    assert text and stream.finish_reason == "stop"
    assert stream.usage.completion_tokens > 0


def test_streams_read_to_their_end_reuse_one_connection(sim, http, simulator_key):
    async def run():
        async with AsyncBigModelClient(simulator_key, sim.base_url, max_retries=0) as client:
            for text in ("One", "Two", "Three"):
                async with client.chat_stream(body(text, stream=True)) as stream:
                    async for _ in stream:
                        pass

    asyncio.run(run())
    calls = http.get(f"{sim.url}/_sim/requests").json()["requests"]
    assert len(calls) == 3 and len({call["client"] for call in calls}) == 1


def test_async_stream_cancellation_closes_the_upstream(sim, http, simulator_key):
    async def run():
        async with AsyncBigModelClient(simulator_key, sim.base_url, max_retries=0) as client:

            async def read():
                async with client.chat_stream(
                    body("Long [[long]] [[fault:latency=30]]", stream=True)
                ) as s:
                    async for _ in s:
                        pass

            task = asyncio.create_task(read())
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        for _ in range(50):
            if http.get(f"{sim.url}/_sim/stats").json()["disconnects"]:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the simulator never saw the disconnect")

    asyncio.run(run())


def test_async_chat_images_and_embeddings(client, http):
    task = client.async_chat_submit(body("Hello"))
    for _ in range(40):
        result = client.async_chat_result(task["id"])
        if result["task_status"] != "PROCESSING":
            break
        asyncio.run(asyncio.sleep(0.05))
    assert result["task_status"] == "SUCCESS" and result["usage"]["total_tokens"] > 0

    image = client.images_generate(model="cogview-3-plus", prompt="a lighthouse", size="1344x768")
    assert http.get(image["data"][0]["url"]).headers["content-type"] == "image/png"

    vectors = client.embeddings(model="embedding-3", input=["a", "b"], dimensions=256)
    assert [len(item["embedding"]) for item in vectors["data"]] == [256, 256]


def _vision_body(image) -> dict:
    from bigmodel.images import image_file_part

    spec = default_catalogue()["glm-4v-plus"]
    return build_chat_body(
        spec,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in the picture?"},
                    image_file_part(image),
                ],
            }
        ],
        stream=True,
    )


def _last_image_sent(http, sim) -> str:
    last = http.get(f"{sim.url}/_sim/requests", params={"path": "/chat/completions"}).json()[
        "requests"
    ][-1]
    return last["body"]["messages"][0]["content"][1]["image_url"]["url"]


def test_a_stored_image_reaches_the_upstream_as_the_bare_base64_of_its_bytes(
    client, sim, http, tmp_path
):
    import base64
    import hashlib

    from bigmodel.images import ImageFile
    from tests import pictures

    small, large = pictures.png(30, 20), pictures.noisy_png(1_500_000)
    for name, data in (("small.png", small), ("large.png", large)):
        path = tmp_path / name
        path.write_bytes(data)
        with client.chat_stream(_vision_body(ImageFile.at(path))) as stream:
            text = "".join(chunk.delta for chunk in stream)
        assert text and stream.usage.prompt_tokens > 1000  # the simulator's flat price per image
        sent, encoded = _last_image_sent(http, sim), base64.b64encode(data).decode()
        if name == "small.png":
            assert base64.b64decode(sent) == small
        else:  # the simulator's log summarises long strings: their start, length and digest
            digest = hashlib.sha256(encoded.encode()).hexdigest()[:16]
            assert sent == f"{encoded[:64]}...[{len(encoded)} chars, sha256 {digest}]"


def test_the_async_client_streams_a_stored_image_too(sim, http, simulator_key, tmp_path):
    import base64

    from bigmodel.images import ImageFile
    from tests import pictures

    path = tmp_path / "photo.jpg"
    path.write_bytes(pictures.jpeg(50, 40))

    async def ask() -> str:
        async with AsyncBigModelClient(simulator_key, sim.base_url, max_retries=0) as client:
            async with client.chat_stream(_vision_body(ImageFile.at(path))) as stream:
                return "".join([chunk.delta async for chunk in stream])

    assert asyncio.run(ask())
    assert base64.b64decode(_last_image_sent(http, sim)) == path.read_bytes()


def test_the_client_joins_a_streamed_function_call_and_reads_a_plain_one(client):
    spec = default_catalogue()["glm-4.7"]
    weather = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    request = build_chat_body(
        spec, messages=[{"role": "user", "content": "Call get_weather please"}], stream=True
    )
    request["tools"] = [weather]
    with client.chat_stream(request) as stream:
        list(stream)
    (call,) = stream.tool_calls
    assert call["function"] == {"name": "get_weather", "arguments": '{"city": "example"}'}
    assert call["id"].startswith("call_") and stream.finish_reason == "tool_calls"
    plain = client.chat({**request, "stream": False})
    assert [c["id"] for c in plain.tool_calls] == [call["id"]]


def test_glm_image_is_queued_then_polled_for_its_link(client, http):
    task = client.images_generate(model="glm-image", prompt="a lighthouse", queued=True)
    assert task["task_status"] == "PROCESSING" and task["model"] == "glm-image"
    for _ in range(40):
        result = client.images_result(task["id"])
        if result["task_status"] != "PROCESSING":
            break
        asyncio.run(asyncio.sleep(0.05))
    assert result["task_status"] == "SUCCESS"
    picture = http.get(result["image_result"][0]["url"])
    assert picture.headers["content-type"] == "image/png"

    failed = client.images_generate(model="glm-image", prompt="x [[fault:task-fail]]", queued=True)
    for _ in range(40):
        result = client.images_result(failed["id"])
        if result["task_status"] != "PROCESSING":
            break
        asyncio.run(asyncio.sleep(0.05))
    assert result["task_status"] == "FAIL"
    with pytest.raises(InvalidParameter):  # only GLM-Image has the queued path
        client.images_generate(model="cogview-4", prompt="a lighthouse", queued=True)
