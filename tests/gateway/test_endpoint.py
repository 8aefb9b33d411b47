"""The metered endpoint: a member's key, the official SDKs pointed at the console, and every call
in the ledger exactly once, under the key, within the team's money."""

import contextlib
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from django.db import connection
from zhipuai import ZhipuAI

from accounts.models import ApiKey, Hold, Team, UsageRecord
from accounts.services.holds import holds_expire
from accounts.services.keys import key_create, key_revoke
from bigmodel.simulator import make_jwt
from bigmodel.tokens import estimate_tokens
from tests.gateway.conftest import refusal
from tests.support import LiveServer, usage_records

MESSAGES = [{"role": "user", "content": "How do scripts talk to the console?"}]
# SQLite's query_only makes the database refuse writes.
SQLITE_ONLY = pytest.mark.skipif(connection.vendor != "sqlite", reason="needs SQLite's query_only")


@pytest.fixture
def endpoint(live_server_url):
    return f"{live_server_url}/api/paas/v4"


def post(endpoint, authorization, body):
    headers = {"Authorization": authorization} if authorization is not None else {}
    return httpx.post(f"{endpoint}/chat/completions", json=body, headers=headers, timeout=30)


def only_record():
    [record] = usage_records(1)
    return record


def test_the_openai_sdk_chats_through_the_console_and_each_call_is_metered_once(
    key, endpoint, sim_log
):
    made, raw = key
    client = openai.OpenAI(api_key=raw, base_url=f"{endpoint}/", max_retries=0)
    plain = client.chat.completions.create(model="glm-4-flash", messages=MESSAGES)
    assert plain.choices[0].message.content
    record = only_record()
    assert (record.source, record.api_key_id, record.exact) == ("api", made.id, True)
    assert (record.prompt_tokens, record.completion_tokens) == (
        plain.usage.prompt_tokens,
        plain.usage.completion_tokens,
    )
    assert not Hold.objects.exists()
    # The upstream saw the site's key, never the member's.
    [call] = sim_log.calls()
    assert raw not in json.dumps(call) and made.key_id not in json.dumps(call)

    chunks = list(
        client.chat.completions.create(model="glm-4-flash", messages=MESSAGES, stream=True)
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert streamed == plain.choices[0].message.content  # the same seedless reply, as chunks
    assert UsageRecord.objects.count() == 2
    last = UsageRecord.objects.latest("id")
    assert last.completion_tokens == chunks[-1].usage.completion_tokens and last.exact


@pytest.mark.parametrize("jwt_form", ["bearer", "bare"])
def test_a_zhipu_jwt_signed_with_the_keys_secret_is_taken_bearer_or_bare(key, endpoint, jwt_form):
    _, raw = key
    token = make_jwt(raw)
    response = post(endpoint, f"Bearer {token}" if jwt_form == "bearer" else token, {
        "model": "glm-4-flash", "messages": MESSAGES})  # fmt: skip
    assert response.status_code == 200, response.text
    assert only_record().source == "api"


def test_the_zhipuai_sdk_with_its_own_jwt(key, endpoint):
    _, raw = key
    client = ZhipuAI(api_key=raw, base_url=endpoint, max_retries=0, disable_token_cache=False)
    result = client.chat.completions.create(model="glm-4-flash", messages=MESSAGES)
    assert result.choices[0].message.content and only_record().api_key_id is not None


def test_bad_credentials_are_refused_as_bigmodel_refuses_them(key, endpoint):
    made, raw = key
    body = {"model": "glm-4-flash", "messages": MESSAGES}
    missing = post(endpoint, None, body)
    assert refusal(missing) == (401, "1001")
    assert (
        "Header中未收到Authorization参数" in missing.content.decode()
    )  # UTF-8, as BigModel sends it
    assert refusal(post(endpoint, "Bearer nonsense", body)) == (401, "1002")
    assert refusal(post(endpoint, f"Bearer {made.key_id}.wrong-secret", body)) == (401, "1000")
    stale = make_jwt(raw, ttl_seconds=-1)
    assert refusal(post(endpoint, f"Bearer {stale}", body)) == (401, "1003")
    forged = make_jwt(f"{made.key_id}.not-the-secret")
    assert refusal(post(endpoint, f"Bearer {forged}", body)) == (401, "1004")
    key_revoke(key=made)
    revoked = post(endpoint, f"Bearer {raw}", body)
    assert refusal(revoked) == (401, "1000") and "revoked" in revoked.json()["error"]["message"]
    assert not UsageRecord.objects.exists() and not Hold.objects.exists()


def test_a_model_outside_the_keys_list_or_the_catalogue_is_a_1211(alice, endpoint):
    _, raw = key_create(user=alice, team=alice.personal_team, name="flash", models=["glm-4-flash"])
    assert refusal(post(endpoint, f"Bearer {raw}", {"model": "glm-4.7", "messages": MESSAGES})) == (
        400,
        "1211",
    )
    assert refusal(post(endpoint, f"Bearer {raw}", {"model": "nope", "messages": MESSAGES})) == (
        400,
        "1211",
    )
    assert refusal(post(endpoint, f"Bearer {raw}", {"model": "glm-4-flash"})) == (400, "1214")


def test_a_team_that_cannot_pay_is_refused_before_any_upstream_call(alice, endpoint, sim_log):
    Team.objects.filter(id=alice.personal_team.id).update(billing="prepaid", cash_nano=0)
    _, raw = key_create(user=alice, team=alice.personal_team, name="broke")
    response = post(endpoint, f"Bearer {raw}", {"model": "glm-4.7", "messages": MESSAGES})
    assert refusal(response) == (429, "1113")
    assert sim_log.calls() == [] and not Hold.objects.exists()


def test_an_upstream_error_is_passed_on_with_its_code_and_nothing_is_billed(key, endpoint):
    _, raw = key
    body = {"model": "glm-4-flash", "messages": [{"role": "user", "content": "x [[fault:1301]]"}]}
    assert refusal(post(endpoint, f"Bearer {raw}", body)) == (400, "1301")
    body["stream"] = True
    assert refusal(post(endpoint, f"Bearer {raw}", body)) == (400, "1301")
    assert not UsageRecord.objects.exists() and not Hold.objects.exists()


def test_a_caller_that_leaves_mid_stream_is_metered_exactly_once(key, endpoint):
    _, raw = key
    body = {
        "model": "glm-4-flash",
        "stream": True,
        "messages": [
            {"role": "user", "content": "Tell me a long story [[long]] [[fault:latency=5]]"}
        ],
    }
    with httpx.stream(
        "POST",
        f"{endpoint}/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {raw}"},
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data: {"):
                break  # the caller goes after the first chunk
    [record] = usage_records(1, timeout=30)  # the upstream is read to its end meanwhile
    assert record.exact and record.completion_tokens > 50  # the whole reply, as BigModel counts it
    time.sleep(0.5)
    assert UsageRecord.objects.count() == 1


def test_a_stream_that_leaves_out_its_usage_is_counted_from_what_arrived(key, endpoint):
    _, raw = key
    body = {
        "model": "glm-4.5-flash",  # it thinks first: the thinking counts as the answer does
        "stream": True,
        "messages": [{"role": "user", "content": "Think, then answer [[fault:nousage]]"}],
    }
    arrived = {"reasoning_content": "", "content": ""}
    with httpx.stream(
        "POST",
        f"{endpoint}/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {raw}"},
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data: {"):
                delta = json.loads(line[6:])["choices"][0]["delta"]
                for field in arrived:
                    arrived[field] += delta.get(field) or ""
    assert arrived["reasoning_content"] and arrived["content"]
    record = only_record()
    assert not record.exact
    assert record.completion_tokens == estimate_tokens(
        arrived["reasoning_content"] + arrived["content"]
    )


def test_createkey_prints_the_key_once_and_keeps_no_usable_copy(alice, endpoint, capsys):
    from django.core.management import call_command

    call_command("createkey", "alice", "--name", "cron", "--models", "glm-4-flash")
    raw = capsys.readouterr().out.strip()
    key_id, secret = raw.split(".")
    made = ApiKey.objects.get(key_id=key_id)
    stored = json.dumps(list(ApiKey.objects.values()), default=str)
    assert secret not in stored and made.models_allowed == ["glm-4-flash"]
    assert made.masked == f"{key_id[:4]}…{secret[-4:]}"
    assert (
        post(endpoint, f"Bearer {raw}", {"model": "glm-4-flash", "messages": MESSAGES}).status_code
        == 200
    )
    call_command("revokekey", key_id)
    assert refusal(
        post(endpoint, f"Bearer {raw}", {"model": "glm-4-flash", "messages": MESSAGES})
    ) == (401, "1000")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"max_tokens": "100"}, "max_tokens must be a whole number"),
        ({"max_tokens": -5}, "max_tokens must be at least 1"),
        ({"stream": "yes"}, "stream must be true or false"),
        ({"messages": [{"role": "user", "content": 5}]}, "content must be text or a list"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]}, "its text"),
        ({"messages": [{"role": "assistant", "content": "", "reasoning_content": 3}]}, "reasoning"),
        ({"tools": 5}, "tools must be a list of tools"),
        ({"tools": [{"type": "retrieval", "retrieval": {"knowledge_id": "k"}}]}, "no retrieval"),
        ({"tools": [{"type": "web_search", "web_search": {"count": "abc"}}]}, "count must be"),
        ({"tools": [{"type": "web_search", "web_search": "x"}]}, "one web_search tool"),
        ({"surprise": 1}, "unknown field surprise"),
    ],
)
def test_a_body_the_console_cannot_meter_is_a_1214_in_words(key, endpoint, sim_log, change, words):
    _, raw = key
    response = post(endpoint, f"Bearer {raw}", {"model": "glm-4.7", "messages": MESSAGES, **change})
    assert refusal(response) == (400, "1214") and words in response.json()["error"]["message"]
    assert sim_log.calls() == [] and not Hold.objects.exists()


def test_a_caller_that_leaves_before_the_first_chunk_is_still_metered_exactly(key, endpoint):
    _, raw = key
    text = "Tell me a long story [[long]] [[fault:ttft=800]]"
    body = {"model": "glm-4-flash", "stream": True, "messages": [{"role": "user", "content": text}]}
    with pytest.raises(httpx.ReadTimeout):
        post_quickly = httpx.Client(timeout=httpx.Timeout(30, read=0.3))
        with post_quickly.stream(
            "POST",
            f"{endpoint}/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {raw}"},
        ) as response:
            response.read()
    [record] = usage_records(1, timeout=30)  # the upstream is read to its end meanwhile
    assert record.exact and record.completion_tokens > 50
    assert not Hold.objects.exists()


def test_a_caller_that_leaves_before_a_plain_answer_is_still_metered_exactly(key, endpoint):
    _, raw = key
    text = "Tell me a story [[fault:latency=1000]]"  # the upstream thinks for 1 s
    body = {"model": "glm-4-flash", "messages": [{"role": "user", "content": text}]}
    with httpx.Client(timeout=httpx.Timeout(30, read=0.4)) as leaving:  # admitted, then gone
        with pytest.raises(httpx.ReadTimeout):
            leaving.post(
                f"{endpoint}/chat/completions",
                json=body,
                headers={"Authorization": f"Bearer {raw}"},
            )
    [record] = usage_records(1, timeout=30)  # its answer is never sent: recorded all the same
    assert record.exact and record.completion_tokens > 0
    assert not Hold.objects.exists()


def test_a_plain_calls_record_waits_for_its_answer_to_be_sent(key, endpoint):
    """Django closes a response once its last byte is out; here closing takes 300 ms."""
    from django.core.signals import request_finished
    from django.db.models.signals import pre_save

    _, raw = key
    seen = []

    def closing(**_) -> None:
        seen.append("closing")
        time.sleep(0.3)
        seen.append("closed")

    def recording(**_) -> None:
        seen.append("recording")

    request_finished.connect(closing, dispatch_uid="slow-close")
    pre_save.connect(recording, sender=UsageRecord, dispatch_uid="recording")
    try:
        answer = post(endpoint, f"Bearer {raw}", {"model": "glm-4-flash", "messages": MESSAGES})
        assert answer.status_code == 200 and len(usage_records(1)) == 1
    finally:
        request_finished.disconnect(dispatch_uid="slow-close")
        pre_save.disconnect(sender=UsageRecord, dispatch_uid="recording")
    assert seen == ["closing", "closed", "recording"]


def _writes_refused_on_the_lanes(refused: bool) -> None:
    """The web process's database connections (one per lane) refuse writes, or take them again."""
    from django.db import connection

    from runtime.lanes import _lanes

    def switch() -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA query_only = {int(refused)}")

    for lane in _lanes:
        lane.submit(switch).result()


def assert_billed_from_its_hold(made: ApiKey, log: str) -> None:
    """The call was not recorded, and said so; its hold stays and is billed when it expires."""
    assert "was not recorded; its hold stays" in log
    assert not UsageRecord.objects.exists()
    [hold] = Hold.objects.all()
    assert holds_expire(now=hold.expires_at) == 1  # billed at its worst case, flagged
    record = only_record()
    assert (record.api_key_id, record.exact) == (made.id, False)
    assert record.completion_tokens == hold.completion_tokens


@SQLITE_ONLY
def test_a_call_whose_record_cannot_be_written_is_answered_and_billed_from_its_hold(
    key, endpoint, caplog
):
    made, raw = key
    text = "Tell me a story [[fault:latency=100]]"  # a chunk every 100 ms
    body = {"model": "glm-4-flash", "stream": True, "messages": [{"role": "user", "content": text}]}
    with httpx.stream(
        "POST",
        f"{endpoint}/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {raw}"},
        timeout=30,
    ) as response:
        _writes_refused_on_the_lanes(True)  # admitted and held: the upstream is thinking
        try:
            lines = list(response.iter_lines())
        finally:
            _writes_refused_on_the_lanes(False)
    assert response.status_code == 200 and "data: [DONE]" in lines
    assert_billed_from_its_hold(made, caplog.text)


@contextlib.contextmanager
def _answered_while_writes_are_refused(endpoint: str, raw: str) -> Iterator[httpx.Response]:
    """A plain call's answer, the database refusing writes from its admission on (the upstream
    thinks for 500 ms meanwhile) until the block ends."""
    text = "Tell me a story [[fault:latency=500]]"
    body = {"model": "glm-4-flash", "messages": [{"role": "user", "content": text}]}
    with ThreadPoolExecutor(1) as caller:
        answer = caller.submit(post, endpoint, f"Bearer {raw}", body)
        deadline = time.monotonic() + 10
        while not Hold.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        _writes_refused_on_the_lanes(True)
        try:
            response = answer.result()
            assert response.status_code == 200 and response.json()["choices"][0]["message"]
            yield response
        finally:
            _writes_refused_on_the_lanes(False)


@SQLITE_ONLY
def test_a_plain_call_whose_record_cannot_be_written_is_answered_and_billed_from_its_hold(
    key, endpoint, caplog
):
    made, raw = key
    with _answered_while_writes_are_refused(endpoint, raw):
        # Answered at once: the record's tries (1.5 s of them) come after the answer.
        assert "was not recorded" not in caplog.text
        deadline = time.monotonic() + 10
        while "was not recorded" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.01)
    assert_billed_from_its_hold(made, caplog.text)


@SQLITE_ONLY
def test_a_web_process_told_to_stop_first_records_the_calls_it_has_answered(key, live_server_url):
    _, raw = key
    server = LiveServer().start()  # one this test stops itself (live_server_url loads the prices)
    with ThreadPoolExecutor(1) as stopper:
        with _answered_while_writes_are_refused(f"{server.url}/api/paas/v4", raw):
            # The record's first try fails; its next, 0.5 s on, comes after writes are taken again.
            stopping = stopper.submit(server.stop)
            time.sleep(0.2)
        stopping.result()
    assert not server.thread.is_alive()
    [record] = UsageRecord.objects.all()  # no waiting: the server has stopped
    assert record.exact and not Hold.objects.exists()


def test_a_members_calls_in_flight_are_capped(key, endpoint, settings, sim_log):
    made, raw = key
    # The cap counts the member's API holds; two already in flight fill a cap of two.
    from accounts.models import Hold as HoldRow

    for n in range(2):
        HoldRow.objects.create(
            request_id=f"inflight-{n}",
            team=made.team,
            user=made.user,
            model="glm-4-flash",
            source="api",
            amount_nano=0,
            expires_at=made.created_at.replace(year=2100),
        )
    settings.MAX_API_CALLS_PER_USER = 2
    response = post(endpoint, f"Bearer {raw}", {"model": "glm-4-flash", "messages": MESSAGES})
    assert (
        refusal(response) == (429, "1302")
        and "at most 2 at once" in response.json()["error"]["message"]
    )
    assert sim_log.calls() == []


def test_the_key_of_a_member_who_can_no_longer_sign_in_is_refused(key, endpoint, alice):
    _, raw = key
    type(alice).objects.filter(id=alice.id).update(is_active=False)
    assert refusal(
        post(endpoint, f"Bearer {raw}", {"model": "glm-4-flash", "messages": MESSAGES})
    ) == (
        401,
        "1000",
    )


ZAI_CALL = """
import sys
from zai import ZhipuAiClient
client = ZhipuAiClient(api_key=sys.argv[2], base_url=sys.argv[1], max_retries=0)
reply = client.chat.completions.create(
    model="glm-4-flash", messages=[{"role": "user", "content": "Hello"}]
)
print(reply.choices[0].message.content)
"""


def test_the_zai_sdk_with_its_own_jwt(key, endpoint):
    import subprocess

    from tests.bigmodel.test_simulator_sdks import ZAI_PYTHON

    _, raw = key
    done = subprocess.run(
        [ZAI_PYTHON, "-c", ZAI_CALL, endpoint, raw], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() and only_record().source == "api"


def test_the_csv_names_the_key_each_api_call_came_with(key, endpoint, alice, live_server_url):
    import csv
    import io

    from django.utils import timezone

    from tests.support import http_client_for

    made, raw = key
    assert (
        post(endpoint, f"Bearer {raw}", {"model": "glm-4-flash", "messages": MESSAGES}).status_code
        == 200
    )
    usage_records(1)
    today = timezone.localdate().isoformat()
    client = http_client_for(alice, live_server_url)
    text = client.get(f"/accounts/usage.csv?start={today}&end={today}").text
    client.close()
    row, total = list(csv.DictReader(io.StringIO(text)))
    assert (row["source"], row["key"]) == ("api", f"scripts ({made.masked})")
    assert total["key"] == ""


def test_each_answer_says_what_its_steps_took_here(key, endpoint):
    _, raw = key
    body = {"model": "glm-4-flash", "messages": MESSAGES}
    plain = post(endpoint, f"Bearer {raw}", body).headers["Server-Timing"]
    steps = dict(part.split(";dur=") for part in plain.split(", "))
    assert list(steps) == ["auth", "limits", "checks", "hold", "upstream"]  # recorded after
    assert all(float(ms) >= 0 for ms in steps.values())
    streamed = post(endpoint, f"Bearer {raw}", {**body, "stream": True}).headers["Server-Timing"]
    assert [part.split(";")[0] for part in streamed.split(", ")] == [
        "auth",
        "limits",
        "checks",
        "hold",
    ]
