"""Today's models in the playground: thinking streamed apart and saved, JSON output shown as
JSON, and the controls refused where the model does not offer them."""

import html
import json
import os
import re
import subprocess
import sys

import pytest

from accounts.models import UsageRecord
from accounts.services import settlement
from playground.models import Message
from playground.snippets import KEY_VARIABLE
from tests.bigmodel.test_simulator_sdks import ZAI_PYTHON
from tests.playground.test_streaming import read_events, start_turn, wait_until_final


def events_of(client, reply):
    with client.stream("GET", f"/playground/r/{reply.public_id}/stream/") as response:
        return read_events(response)


def test_thinking_streams_into_its_own_block_is_saved_and_billed_as_output(alice_http):
    reply = start_turn(alice_http, "Why is the sky blue? [[fault:latency=2]]", model="glm-4.7")
    events = events_of(alice_http, reply)
    kinds = [event["event"] for event in events]
    assert kinds.index("thinking") < kinds.index("delta")  # the thinking comes first
    assert "thinking" not in kinds[kinds.index("delta") :]
    streamed = "".join(event["data"] for event in events if event["event"] == "thinking")
    reply = wait_until_final(reply)
    assert reply.reasoning_content == streamed and reply.reasoning_tokens > 0
    assert reply.reasoning_content not in reply.content  # the answer is apart
    final = events[-1]["data"]
    assert '<details class="thinking">' in final and f"{reply.reasoning_tokens} tokens" in final
    assert f"({reply.reasoning_tokens} thinking)" in final
    while settlement.usage_settle_pending():
        pass
    record = UsageRecord.objects.get(request_id=reply.request_id)
    assert (record.reasoning_tokens, record.completion_tokens) == (
        reply.reasoning_tokens,
        reply.completion_tokens,
    )


def test_thinking_disabled_is_sent_as_the_api_expects_and_nothing_is_thought(alice_http):
    reply = start_turn(alice_http, "Why is the sky blue?", model="glm-4.7", thinking="disabled")
    kinds = [event["event"] for event in events_of(alice_http, reply)]
    reply = wait_until_final(reply)
    assert "thinking" not in kinds and reply.reasoning_content == ""
    assert reply.params["thinking"] == {"type": "disabled"}


@pytest.mark.parametrize(
    ("model", "params", "words"),
    [
        ("glm-4-flash", {"thinking": "enabled"}, "GLM-4-Flash (free) does not think"),
        ("glm-z1-air", {"thinking": "disabled"}, "always thinks: its thinking cannot be disabled"),
        ("glm-4v-plus", {"response_format": "json_object"}, "does not offer JSON output"),
        ("glm-4.7", {"thinking": "sometimes"}, "Select a valid choice"),
    ],
)
def test_a_control_the_model_does_not_offer_is_refused_in_words(alice_http, model, params, words):
    data = {"model": model, "message": "Hi", "do_sample": "true", **params}
    response = alice_http.post("/playground/send/", data=data)
    assert response.headers["HX-Retarget"] == "#form-errors" and words in response.text
    assert not Message.objects.exists()


def test_a_json_reply_is_shown_formatted_and_one_that_does_not_parse_says_so(alice_http):
    good = wait_until_final(
        start_turn(alice_http, "Three colours", model="glm-4.7", response_format="json_object")
    )
    page = alice_http.get(good.conversation.get_absolute_url()).text
    assert '<pre class="body json"><code>{\n  &quot;answer&quot;' in page
    bad = wait_until_final(
        start_turn(
            alice_http,
            "Three colours [[fault:badjson]]",
            model="glm-4.7",
            response_format="json_object",
        )
    )
    page = alice_http.get(bad.conversation.get_absolute_url()).text
    assert "does not parse as JSON" in page


def test_the_model_picker_groups_by_family_and_shows_each_price_with_its_bands(alice_http):
    page = alice_http.get("/playground/").text
    group = page[
        page.index('<optgroup label="GLM-4.7">') : page.index(
            "</optgroup>", page.index('<optgroup label="GLM-4.7">')
        )
    ]
    option = group[
        group.index('value="glm-4.7"') : group.index("</option>", group.index('value="glm-4.7"'))
    ]
    # glm-4.7: input ¥2, ¥3 or ¥4 and output ¥8, ¥14 or ¥16 per million, by band
    assert "GLM-4.7 — ¥2–4 in · ¥8–16 out per M tokens" in option
    assert "input 0–32K, output 0.2K+: in ¥3, cache hit ¥0.6, out ¥14" in html.unescape(option)
    assert "GLM-4-Flash (free) — free" in page and "GLM-4.6 — ¥2–4 in · ¥8–16 out" in page


def _snippets(page: str) -> dict[str, str]:
    """Each "View code" panel's code, by its tab."""
    found = re.findall(r'data-panel="(\w+)".*?<pre><code>(.*?)</code></pre>', page, re.S)
    return {slug: html.unescape(code) for slug, code in found}


def test_view_code_runs_as_shown_with_the_zai_openai_and_zhipuai_sdks(alice_http):
    data = {
        "model": "glm-4.7",
        "message": "Why is the sky blue?",
        "temperature": "1",
        "thinking": "disabled",
        "response_format": "json_object",
    }
    page = alice_http.post("/playground/code/", data=data).text
    code = _snippets(page)
    assert set(code) == {"zai", "zhipuai", "openai", "httpx", "curl"}
    assert "In this request: temperature 1 is sent as 0.99 (the official SDKs" in page
    assert "from zai import ZhipuAiClient" in code["zai"] and "temperature=0.99" in code["zai"]
    extra = code["openai"][code["openai"].index("extra_body={") :]
    assert "'thinking': {\n            'type': 'disabled'," in extra  # GLM's own field
    assert "response_format={" in code["openai"].split("extra_body")[0]  # openai's own
    # Each runs as it is, with the member's key, through the console to the simulator, and
    # streams a JSON answer.
    for slug, printed in run_snippets(code, member_key("alice")).items():
        assert isinstance(json.loads(printed), dict), (slug, printed)


def member_key(username: str) -> str:
    """A new API key of the member's for their personal team."""
    from django.contrib.auth import get_user_model

    from accounts.services.keys import key_create

    user = get_user_model().objects.get(username=username)
    return key_create(user=user, team=user.personal_team, name="snippets")[1]


def run_snippets(code: dict[str, str], key: str) -> dict[str, str]:
    """Run the zai, openai and zhipuai snippets as shown, with a member's API key in the
    environment, against the console that showed them: what each printed (each must succeed)."""
    env = {**os.environ, KEY_VARIABLE: key}
    printed = {}
    for slug, python in (
        ("zai", ZAI_PYTHON),
        ("openai", sys.executable),
        ("zhipuai", sys.executable),
    ):
        done = subprocess.run(
            [python, "-c", code[slug]], capture_output=True, text=True, env=env, timeout=60
        )
        assert done.returncode == 0, (slug, done.stderr)
        printed[slug] = done.stdout
    return printed


def test_web_search_sources_are_saved_and_listed_under_the_reply_opening_apart(alice_http):
    reply = wait_until_final(
        start_turn(
            alice_http,
            "Rust borrow checker",
            model="glm-4.7",
            thinking="disabled",
            web_search="true",
            search_engine="search_pro",
            count="3",
            search_recency_filter="oneWeek",
        )
    )
    assert reply.params["tools"] == [
        {
            "type": "web_search",
            "web_search": {
                "enable": True,
                "search_result": True,
                "search_engine": "search_pro",
                "count": 3,
                "search_recency_filter": "oneWeek",
            },
        }
    ]
    assert [source["title"] for source in reply.sources] == [
        f"Rust borrow checker: result {n}" for n in (1, 2, 3)
    ]
    page = alice_http.get(reply.conversation.get_absolute_url()).text
    link = reply.sources[0]["link"]
    assert (
        f'<a href="{link}" target="_blank" rel="noopener noreferrer nofollow">'
        "Rust borrow checker: result 1</a>"
    ) in page
    # The next turn's form starts from these settings.
    assert 'name="web_search" id="id_web_search" value="true" checked' in page
    # The search is billed at its engine's fee per call, held before the call was made.
    while settlement.usage_settle_pending():
        pass
    record = UsageRecord.objects.get(request_id=reply.request_id)
    assert (record.search_engine, record.searches, record.search_nano) == (
        "search_pro",
        1,
        3 * 10**7,
    )
    assert record.cost_nano > record.search_nano and record.held_nano >= record.cost_nano
    page = alice_http.get(reply.conversation.get_absolute_url()).text
    assert "1 search (search_pro) ¥0.0300" in page


def test_a_reply_whose_search_found_nothing_pays_no_search(alice_http):
    reply = wait_until_final(
        start_turn(alice_http, "Hi [[fault:nosearch]]", model="glm-4.7", web_search="true")
    )
    assert reply.status == "done" and reply.sources == []
    record = UsageRecord.objects.get(request_id=reply.request_id)
    assert (record.searches, record.search_engine) == (0, "")


@pytest.mark.parametrize(
    ("model", "extra", "words"),
    [
        ("glm-4v-plus", {}, "does not offer the web_search tool"),
        ("glm-4.7", {"count": "80"}, "count must be a whole number from 1 to 50"),
    ],
)
def test_web_search_is_refused_where_the_model_or_the_count_cannot_take_it(
    alice_http, model, extra, words
):
    data = {"model": model, "message": "Hi", "web_search": "true", **extra}
    response = alice_http.post("/playground/send/", data=data)
    assert response.headers["HX-Retarget"] == "#form-errors" and words in response.text


def test_only_a_web_address_from_the_search_becomes_a_link_under_the_reply():
    from playground.reply_parts import kept_source

    page = {
        "title": "A page",
        "link": "https://example.com/a",
        "media": "Example",
        "refer": "ref_1",
    }
    assert kept_source(page) == {
        "title": "A page",
        "link": "https://example.com/a",
        "media": "Example",
        "publish_date": "",
        "refer": "ref_1",
    }
    for link in ("javascript:alert(1)", "data:text/html,hi", "//example.com/a", ""):
        assert kept_source({**page, "link": link}) is None
