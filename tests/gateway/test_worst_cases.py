"""Nobody gets calls for free through the endpoint: a hold covers what a call can cost whatever its
prompt holds, a search is paid for whether or not its pages were asked for, and the key's limits
refuse a call before any work is spent on its body."""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from accounts.models import Hold, Team, UsageRecord
from accounts.services import settlement
from accounts.services.keys import key_create
from accounts.services.pricing import PriceBook
from accounts.services.wallet import wallet_topup
from tests.gateway.conftest import chat, refusal
from tests.support import http_client_for, usage_records

# glm-4-plus as seeded (from 2026-07-09): ¥5 per million tokens in and out, 2.5 for a cache hit.
PLUS = 5_000  # nano-yuan per token
BANGS = [{"role": "user", "content": "!" * 7000}]
# Its worst case: the message's JSON, {"role": "user", "content": "!!!…"}, is 29 + 7,000 + 2
# = 7,031 bytes, counted as tokens, with 16 for the message and 64 for the call, and 1 token out:
# 7,112 tokens at ¥5 per million.
BANGS_HELD = (7031 + 16 + 64 + 1) * PLUS
# The simulator counts each "!" as a token and 4 for the message: 7,004 in; and 1 out.
BANGS_COST = (7004 + 1) * PLUS


def prepaid(team: Team, cash_nano: int) -> Team:
    Team.objects.filter(id=team.id).update(billing="prepaid")
    if cash_nano:
        wallet_topup(team=team, amount_nano=cash_nano)
    team.refresh_from_db()
    return team


def settle_all() -> None:
    while settlement.usage_settle_pending():
        pass


def test_a_prompt_of_7000_bangs_is_held_at_least_what_it_costs(alice, key, live_server_url):
    _, raw = key
    team = prepaid(alice.personal_team, cash_nano=9_215_000)  # ¥0.009215: the estimate once fit
    refused = chat(live_server_url, raw, BANGS, model="glm-4-plus", max_tokens=1)
    assert refusal(refused) == (429, "1113")
    assert "could cost up to ¥0.0356" in refused.json()["error"]["message"]

    wallet_topup(team=team, amount_nano=BANGS_HELD)
    response = chat(live_server_url, raw, BANGS, model="glm-4-plus", max_tokens=1)
    assert response.status_code == 200, response.text
    assert response.json()["usage"]["prompt_tokens"] == 7004
    [record] = usage_records(1)
    assert record.held_nano == BANGS_HELD
    settle_all()
    record.refresh_from_db()
    assert record.cost_nano == BANGS_COST <= record.held_nano
    team.refresh_from_db()
    assert team.cash_nano == 9_215_000 + BANGS_HELD - BANGS_COST


def test_however_many_such_calls_race_a_prepaid_team_stays_at_or_above_zero(
    alice, key, live_server_url, sim_log
):
    _, raw = key
    team = prepaid(alice.personal_team, cash_nano=2 * BANGS_HELD + BANGS_HELD // 2)  # two fit

    def send(_):
        return chat(live_server_url, raw, BANGS, model="glm-4-plus", max_tokens=1)

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(send, range(8)))
    assert sorted(r.status_code for r in responses) == [200] * 2 + [429] * 6
    assert len(sim_log.calls()) == 2 and len(usage_records(2)) == 2
    settle_all()
    team.refresh_from_db()
    assert team.cash_nano == 2 * BANGS_HELD + BANGS_HELD // 2 - 2 * BANGS_COST >= 0


def test_a_body_without_max_tokens_is_held_at_all_the_model_may_write(key, live_server_url):
    _, raw = key
    slow = [{"role": "user", "content": "Wait for me [[fault:latency=1500]]"}]
    threading.Thread(target=chat, args=(live_server_url, raw, slow), daemon=True).start()
    deadline = time.monotonic() + 10
    while not Hold.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert Hold.objects.get().completion_tokens == 4095  # glm-4-flash's max_output_tokens


@pytest.mark.parametrize(
    ("max_tokens", "words"),
    [
        (10**30, "max_tokens can be at most 4095 for GLM-4-Plus (got 1000000000000000000000000"),
        (4096, "max_tokens can be at most 4095 for GLM-4-Plus (got 4096)"),
        (0, "max_tokens must be at least 1"),
        (1.5, "max_tokens must be a whole number"),
    ],
)
def test_max_tokens_past_the_models_limit_is_a_1214_that_names_it(
    key, live_server_url, sim_log, max_tokens, words
):
    _, raw = key
    for path in ("chat/completions", "async/chat/completions"):
        response = httpx.post(
            f"{live_server_url}/api/paas/v4/{path}",
            json={"model": "glm-4-plus", "messages": BANGS, "max_tokens": max_tokens},
            headers={"Authorization": f"Bearer {raw}"},
            timeout=30,
        )
        assert refusal(response) == (400, "1214"), path
        assert words in response.json()["error"]["message"]
    assert not sim_log.calls() and not Hold.objects.exists()


SEARCH = {"type": "web_search", "web_search": {"enable": True, "search_engine": "search_pro"}}
ASKING = {"type": "web_search", "web_search": {**SEARCH["web_search"], "search_result": True}}


def _cost(record: UsageRecord) -> int:
    return PriceBook().charge(record).cost_nano


@pytest.mark.parametrize("stream", [False, True])
def test_a_call_that_searched_pays_the_fee_whether_or_not_it_asked_for_the_pages(
    key, live_server_url, stream
):
    _, raw = key
    for tool in (SEARCH, ASKING):
        response = chat(live_server_url, raw, model="glm-4-plus", tools=[tool], stream=stream)
        assert response.status_code == 200, response.text
    without, asking = usage_records(2)
    assert (without.search_engine, without.searches) == ("search_pro", 1)
    assert (asking.search_engine, asking.searches) == ("search_pro", 1)
    assert without.prompt_tokens == asking.prompt_tokens
    tokens = without.prompt_tokens + without.completion_tokens
    assert _cost(without) == _cost(asking) == tokens * PLUS + 30_000_000  # search_pro: ¥0.03


@pytest.mark.parametrize("stream", [False, True])
def test_a_search_the_upstream_shows_it_did_not_make_is_not_paid(key, live_server_url, stream):
    _, raw = key
    found_nothing = [{"role": "user", "content": "Search for it [[fault:nosearch]]"}]
    response = chat(
        live_server_url, raw, found_nothing, model="glm-4-plus", tools=[ASKING], stream=stream
    )
    assert response.status_code == 200
    [record] = usage_records(1)
    assert (record.search_engine, record.searches) == ("", 0)


FUNCTION = {"type": "object", "properties": {"city": {"type": "string"}}}


def functions(count: int, parameters=FUNCTION) -> list[dict]:
    return [
        {"type": "function", "function": {"name": f"f{n}", "parameters": parameters}}
        for n in range(count)
    ]


def test_more_than_128_functions_or_a_schema_over_64_kib_is_refused_before_it_is_checked(
    key, live_server_url, sim_log
):
    _, raw = key
    assert chat(live_server_url, raw, tools=functions(128)).status_code == 200
    many = chat(live_server_url, raw, tools=functions(129))
    assert refusal(many) == (400, "1214")
    assert "at most 128 functions can be defined (got 129)" in many.json()["error"]["message"]
    big = {"type": "object", "description": "x" * 65 * 1024}
    huge = chat(live_server_url, raw, tools=functions(1, big))
    assert refusal(huge) == (400, "1214")
    assert "f0's parameters are 65 KiB of JSON Schema; at most 64 KiB" in huge.text
    assert len(sim_log.calls()) == 1


def test_a_keys_limits_refuse_a_call_before_its_body_is_read(alice, live_server_url):
    _, raw = key_create(user=alice, team=alice.personal_team, name="once", rpm=1)
    assert chat(live_server_url, raw).status_code == 200
    not_json = httpx.post(
        f"{live_server_url}/api/paas/v4/chat/completions",
        content=b"{not json",
        headers={"Authorization": f"Bearer {raw}"},
    )
    assert refusal(not_json) == (429, "1302")  # its rate, not its body


def test_bodies_of_20000_functions_from_a_limited_key_leave_other_users_answered(
    alice, make_user, web_process
):
    _, raw = key_create(user=alice, team=alice.personal_team, name="flood", rpm=1, concurrency=1)
    body = {"model": "glm-4-plus", "messages": BANGS[:1], "tools": functions(20_000)}
    sent = json.dumps(body, separators=(",", ":")).encode()  # 2.3 MB, made once, sent 8 times
    web = web_process().url  # a process of its own: the flood's senders here take no share of it
    bob = http_client_for(make_user("bob"), web)

    def flood(_):
        return httpx.post(
            f"{web}/api/paas/v4/chat/completions",
            content=sent,
            headers={"Authorization": f"Bearer {raw}", "Content-Type": "application/json"},
            timeout=120,
        )

    with ThreadPoolExecutor(8) as pool:
        sent = [pool.submit(flood, n) for n in range(8)]
        slowest, flooding = 0.0, True
        while flooding:
            flooding = not all(future.done() for future in sent)
            started = time.monotonic()
            assert bob.get("/accounts/").status_code == 200
            slowest = max(slowest, time.monotonic() - started)
    bob.close()
    codes = sorted(refusal(future.result()) for future in sent)
    assert codes == [(400, "1214")] + [(429, "1302")] * 7
    assert slowest < 1.0, f"another user's page took {slowest:.2f} s"
    assert not Hold.objects.exists() and not UsageRecord.objects.exists()


def test_a_stream_without_usage_is_counted_from_all_that_arrived_its_calls_included(
    key, live_server_url
):
    from bigmodel.tokens import estimate_tokens

    _, raw = key
    weather = {"name": "get_weather", "parameters": FUNCTION}
    asking = [{"role": "user", "content": "Call get_weather for Paris [[fault:nousage]]"}]
    with httpx.stream(
        "POST",
        f"{live_server_url}/api/paas/v4/chat/completions",
        json={
            "model": "glm-4.7",
            "messages": asking,
            "tools": [{"type": "function", "function": weather}],
            "stream": True,
        },
        headers={"Authorization": f"Bearer {raw}"},
        timeout=30,
    ) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: {")]
    deltas = [json.loads(line[6:])["choices"][0]["delta"] for line in lines]
    thinking = "".join(d.get("reasoning_content") or "" for d in deltas)
    text = "".join(d.get("content") or "" for d in deltas)
    arguments = "".join(
        call["function"].get("arguments") or ""
        for d in deltas
        for call in d.get("tool_calls") or ()
    )
    assert arguments  # the model called the function
    [record] = usage_records(1)
    assert record.exact is False
    assert record.completion_tokens == estimate_tokens(thinking + text + arguments)
    assert record.reasoning_tokens == estimate_tokens(thinking)


def test_a_plain_answer_without_usage_is_counted_by_the_same_rule(key, live_server_url):
    from bigmodel.tokens import estimate_tokens
    from bigmodel.usage import Asked

    _, raw = key
    asking = [{"role": "user", "content": "Answer plainly [[fault:nousage]]"}]
    answer = chat(live_server_url, raw, asking, model="glm-4.5-flash").json()
    assert "usage" not in answer
    message = answer["choices"][0]["message"]
    [record] = usage_records(1)
    assert record.exact is False
    assert record.prompt_tokens == Asked.of({"messages": asking}).prompt
    thinking = message.get("reasoning_content") or ""
    assert record.completion_tokens == estimate_tokens(thinking + message["content"])
