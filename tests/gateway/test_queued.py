"""Chat calls through BigModel's queue (async/chat/completions, async-result/{id}): held when
submitted, recorded once when their result is first seen, whether the caller asks for it or
never does; a failed task bills nothing; a task is its member's alone."""

import time
from datetime import timedelta

import httpx
from django.utils import timezone
from zhipuai import ZhipuAI

from accounts.models import Hold, UsageRecord
from accounts.services.keys import key_create
from gateway.models import QueuedCall
from gateway.queued import queued_sweep

MESSAGES = [{"role": "user", "content": "Queue this."}]


def submit(base: str, raw: str, messages=MESSAGES, **body) -> httpx.Response:
    return httpx.post(
        f"{base}async/chat/completions",
        json={"model": "glm-4-flash", "messages": messages, **body},
        headers={"Authorization": f"Bearer {raw}"},
    )


def result(base: str, raw: str, task_id: str) -> httpx.Response:
    return httpx.get(f"{base}async-result/{task_id}", headers={"Authorization": f"Bearer {raw}"})


def test_the_zhipuai_sdk_queues_a_call_and_its_result_is_billed_once(key, base):
    made, raw = key
    client = ZhipuAI(api_key=raw, base_url=base)
    task = client.chat.asyncCompletions.create(model="glm-4-flash", messages=MESSAGES)
    assert task.task_status == "PROCESSING" and Hold.objects.count() == 1
    deadline = time.monotonic() + 10
    while (
        answer := client.chat.asyncCompletions.retrieve_completion_result(id=task.id)
    ).task_status == "PROCESSING":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert answer.task_status == "SUCCESS" and answer.choices[0].message.content
    client.chat.asyncCompletions.retrieve_completion_result(id=task.id)  # asked again
    [record] = UsageRecord.objects.all()
    assert (record.source, record.api_key_id, record.exact) == ("api", made.id, True)
    assert record.completion_tokens == answer.usage.completion_tokens
    assert not Hold.objects.exists()


def test_a_result_nobody_asks_for_is_fetched_and_billed_by_the_sweeper(key, base):
    _, raw = key
    task_id = submit(base, raw).json()["id"]
    time.sleep(0.5)  # the simulator's queue takes 0.3 s
    assert queued_sweep() == 0  # a new task is left to its caller for a while
    assert queued_sweep(now=timezone.now() + timedelta(minutes=1)) == 1
    assert UsageRecord.objects.get().exact and not Hold.objects.exists()
    assert result(base, raw, task_id).json()["task_status"] == "SUCCESS"
    assert UsageRecord.objects.count() == 1 and QueuedCall.objects.get().finished_at


def test_a_failed_task_bills_nothing(key, base):
    _, raw = key
    task_id = submit(base, raw, [{"role": "user", "content": "x [[fault:task-fail]]"}]).json()["id"]
    time.sleep(0.5)
    assert result(base, raw, task_id).json()["task_status"] == "FAIL"
    assert not UsageRecord.objects.exists() and not Hold.objects.exists()


def test_a_task_is_its_members_alone_and_a_queued_call_cannot_stream(key, base, make_user):
    _, raw = key
    task_id = submit(base, raw).json()["id"]
    bob = make_user("bob")
    _, bobs = key_create(user=bob, team=bob.personal_team, name="bob's")
    refused = result(base, bobs, task_id)
    assert (refused.status_code, refused.json()["error"]["code"]) == (404, "1233")
    assert result(base, raw, "no-such-task").status_code == 404
    assert httpx.get(f"{base}async-result/{task_id}").status_code == 401
    streamed = submit(base, raw, stream=True)
    assert (streamed.status_code, streamed.json()["error"]["code"]) == (400, "1214")


def test_a_result_without_usage_is_estimated_by_the_rule_every_call_follows(key, base):
    from bigmodel.tokens import estimate_tokens
    from bigmodel.usage import Asked

    _, raw = key
    messages = [{"role": "user", "content": "Queue this search [[fault:nousage]]"}]
    search = {"type": "web_search", "web_search": {"enable": True, "search_engine": "search_std"}}
    task_id = submit(base, raw, messages, model="glm-4-plus", tools=[search]).json()["id"]
    deadline = time.monotonic() + 10
    while (answer := result(base, raw, task_id).json())["task_status"] == "PROCESSING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert "usage" not in answer
    [record] = UsageRecord.objects.all()
    asked = Asked.of({"model": "glm-4-plus", "messages": messages, "tools": [search]})
    assert record.exact is False
    assert record.prompt_tokens == asked.prompt + asked.search_pages  # it searched: its pages
    content = answer["choices"][0]["message"]["content"]
    assert record.completion_tokens == estimate_tokens(content)
    assert (record.search_engine, record.searches) == ("search_std", 1)
    assert not Hold.objects.exists()
