"""One rule decides what a chat call used, whichever path makes it: the same call through the
playground, the endpoint (streamed, plain) and the endpoint's queue, ended the same way, is
recorded with the same figures."""

import time

import httpx
import pytest

from accounts.models import UsageRecord
from accounts.services.keys import key_create
from tests.playground.test_streaming import start_turn, wait_until_final
from tests.support import usage_records

MODEL = "glm-4.5-flash"  # it thinks first: the thinking is estimated with the answer
FIELDS = (
    "prompt_tokens", "cached_tokens", "completion_tokens", "reasoning_tokens", "search_engine",
    "searches", "exact",
)  # fmt: skip
SEARCH = {"type": "web_search", "web_search": {"enable": True, "search_engine": "search_std"}}


def figures(record: UsageRecord) -> dict:
    return {name: getattr(record, name) for name in FIELDS}


def through_the_playground(client, text: str, search: bool) -> UsageRecord:
    params = {"web_search": "on", "search_engine": "search_std"} if search else {}
    reply = wait_until_final(start_turn(client, text, model=MODEL, **params))
    return UsageRecord.objects.get(request_id=reply.request_id)


def _call(base: str, raw: str, path: str, body: dict) -> httpx.Response:
    return httpx.post(
        f"{base}/api/paas/v4/{path}",
        json=body,
        headers={"Authorization": f"Bearer {raw}"},
        timeout=30,
    )


def _body(text: str, search: bool) -> dict:
    body = {"model": MODEL, "messages": [{"role": "user", "content": text}]}
    return {**body, "tools": [SEARCH]} if search else body


def through_the_endpoint(base: str, raw: str, text: str, search: bool, stream: bool):
    before = UsageRecord.objects.count()
    response = _call(base, raw, "chat/completions", {**_body(text, search), "stream": stream})
    assert response.status_code == 200, response.text
    return usage_records(before + 1)[-1]


def through_the_queue(base: str, raw: str, text: str, search: bool) -> UsageRecord:
    before = UsageRecord.objects.count()
    task = _call(base, raw, "async/chat/completions", _body(text, search)).json()["id"]
    deadline = time.monotonic() + 10
    while UsageRecord.objects.count() == before:
        assert time.monotonic() < deadline
        httpx.get(
            f"{base}/api/paas/v4/async-result/{task}", headers={"Authorization": f"Bearer {raw}"}
        )
        time.sleep(0.05)
    return UsageRecord.objects.latest("id")


@pytest.mark.parametrize("search", [False, True])
@pytest.mark.parametrize("end", ["complete", "nousage"])
def test_a_call_is_recorded_alike_through_every_path(alice_http, live_server_url, end, search):
    from django.contrib.auth import get_user_model

    alice = get_user_model().objects.get(username="alice")
    _, raw = key_create(user=alice, team=alice.personal_team, name="same")
    text = "How do holds work?" + (" [[fault:nousage]]" if end == "nousage" else "")
    playground = figures(through_the_playground(alice_http, text, search))
    assert playground["exact"] is (end == "complete")
    assert playground["search_engine"] == ("search_std" if search else "")
    assert figures(through_the_endpoint(live_server_url, raw, text, search, True)) == playground
    assert figures(through_the_endpoint(live_server_url, raw, text, search, False)) == playground
    assert figures(through_the_queue(live_server_url, raw, text, search)) == playground


def test_a_stream_cut_short_is_recorded_alike_in_the_playground_and_through_the_endpoint(
    alice_http, live_server_url
):
    from django.contrib.auth import get_user_model

    alice = get_user_model().objects.get(username="alice")
    _, raw = key_create(user=alice, team=alice.personal_team, name="same")
    text = "Tell me at length [[long]] [[fault:drop]]"
    playground = figures(through_the_playground(alice_http, text, search=False))
    assert playground["exact"] is False and playground["completion_tokens"] > 0
    assert figures(through_the_endpoint(live_server_url, raw, text, False, True)) == playground
