"""Embeddings and image generation through the endpoint, as the official SDKs call them: held,
forwarded with the site's key, and in the ledger once under the key, at BigModel's prices."""

import subprocess

import httpx
import openai
import pytest
from zhipuai import ZhipuAI

from accounts.models import Hold, UsageRecord
from accounts.services import settlement
from tests.bigmodel.test_simulator_sdks import ZAI_PYTHON
from tests.support import usage_records

pytestmark = pytest.mark.usefixtures("catalogue")


def settled() -> UsageRecord:
    usage_records(1)
    while settlement.usage_settle_pending():
        pass
    [record] = UsageRecord.objects.all()
    return record


def test_embeddings_through_the_openai_sdk_bill_their_input(key, base, sim_log):
    made, raw = key
    client = openai.OpenAI(api_key=raw, base_url=base, max_retries=0)
    answer = client.embeddings.create(model="embedding-3", input=["first text", "second text"])
    assert len(answer.data) == 2 and len(answer.data[0].embedding) > 10
    record = settled()
    assert (record.source, record.api_key_id, record.exact) == ("api", made.id, True)
    assert record.prompt_tokens == answer.usage.prompt_tokens > 0 and record.completion_tokens == 0
    # embedding-3 at ¥0.5 per million input tokens.
    assert record.cost_nano == record.prompt_tokens * 500
    [call] = sim_log.calls("/embeddings")
    assert "encoding_format" not in call["body"] and raw not in str(call)
    assert not Hold.objects.exists()


def test_an_image_through_the_zhipuai_sdk_is_billed_once_by_its_size_and_quality(key, base):
    made, raw = key
    client = ZhipuAI(api_key=raw, base_url=base)
    answer = client.images.generations(model="cogview-4", prompt="A red kite", size="1440x720")
    assert answer.data[0].url
    record = settled()
    assert (record.images, record.size, record.quality) == (1, "1440x720", "standard")
    assert record.cost_nano == 60_000_000  # ¥0.06 an image
    assert (record.source, record.api_key_id) == ("api", made.id)


ZAI_CALLS = """
import sys
import time
from zai import ZhipuAiClient
client = ZhipuAiClient(api_key=sys.argv[2], base_url=sys.argv[1], max_retries=0)
vectors = client.embeddings.create(model="embedding-3", input="Hello")
image = client.images.generations(model="cogview-4", prompt="A kite")
task = client.chat.asyncCompletions.create(
    model="glm-4-flash", messages=[{"role": "user", "content": "Queued"}]
)
for _ in range(100):
    answer = client.chat.asyncCompletions.retrieve_completion_result(id=task.id)
    if answer.task_status != "PROCESSING":
        break
    time.sleep(0.1)
print(len(vectors.data[0].embedding), image.data[0].url, answer.task_status)
"""


def test_the_zai_sdk_embeds_and_draws_through_the_console(key, base):
    _, raw = key
    done = subprocess.run(
        [ZAI_PYTHON, "-c", ZAI_CALLS, base, raw], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "SUCCESS"
    assert sorted(record.model for record in usage_records(3)) == [
        "cogview-4",
        "embedding-3",
        "glm-4-flash",
    ]
    assert not Hold.objects.exists()


def test_the_openai_sdk_draws_through_the_console(key, base):
    made, raw = key
    client = openai.OpenAI(api_key=raw, base_url=base, max_retries=0)
    image = client.images.generate(model="cogview-4", prompt="A blue kite", size="1024x1024")
    assert image.data[0].url
    record = settled()
    assert (record.images, record.size, record.api_key_id) == (1, "1024x1024", made.id)


def post(base: str, raw: str, path: str, body: dict) -> httpx.Response:
    return httpx.post(f"{base}{path}", json=body, headers={"Authorization": f"Bearer {raw}"})


@pytest.mark.parametrize(
    "path, body, words",
    [
        ("embeddings", {"model": "embedding-3", "input": []}, "input must be text"),
        ("embeddings", {"model": "embedding-3", "input": "x", "dimensions": 7}, "dimensions"),
        ("embeddings", {"model": "glm-4-flash", "input": "x"}, None),
        ("images/generations", {"model": "cogview-4", "prompt": "x", "size": "9x9"}, "size"),
        ("images/generations", {"model": "cogview-4", "prompt": " "}, "prompt must be text"),
        ("images/generations", {"model": "embedding-3", "prompt": "x"}, None),
    ],
)
def test_a_body_the_console_cannot_meter_is_refused_before_any_call(
    key, base, sim_log, path, body, words
):
    _, raw = key
    response = post(base, raw, path, body)
    code = response.json()["error"]["code"]
    if words is None:  # a model of another kind is not found for this path
        assert (response.status_code, code) == (400, "1211")
    else:
        assert (response.status_code, code) == (400, "1214")
        assert words in response.json()["error"]["message"]
    assert sim_log.calls() == [] and not Hold.objects.exists()


def test_an_upstream_refusal_bills_nothing(key, base):
    _, raw = key
    response = post(
        base, raw, "images/generations", {"model": "cogview-4", "prompt": "[[fault:1301]]"}
    )
    assert response.json()["error"]["code"] == "1301"
    assert not UsageRecord.objects.exists() and not Hold.objects.exists()


@pytest.mark.parametrize(
    "path, body",
    [
        ("embeddings", {"model": "embedding-3", "input": "x"}),
        ("images/generations", {"model": "cogview-4", "prompt": "A kite"}),
    ],
)
def test_a_keys_model_list_holds_for_embeddings_and_images_too(alice, base, sim_log, path, body):
    from accounts.services.keys import key_create

    _, raw = key_create(user=alice, team=alice.personal_team, name="chat only", models=["glm-4"])
    response = post(base, raw, path, body)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "1211")
    assert f"{body['model']} is not among this API key's models" in response.text
    assert sim_log.calls() == [] and not Hold.objects.exists()


def test_an_embeddings_input_is_held_at_its_bytes_and_costs_no_more(key, base):
    _, raw = key
    text = "标点！" * 300  # 900 characters, 2,700 bytes of UTF-8
    assert post(base, raw, "embeddings", {"model": "embedding-3", "input": text}).status_code == 200
    record = settled()
    assert record.held_nano == 2_700 * 500  # embedding-3: ¥0.5 per million
    assert record.cost_nano == record.prompt_tokens * 500 <= record.held_nano
