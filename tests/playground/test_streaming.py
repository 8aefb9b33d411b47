"""The stream endpoint over real HTTP: relay, resume with Last-Event-ID, one upstream call."""

import time

import httpx
import pytest

from playground.models import Message


def read_events(response, stop_after=None):
    events, current = [], {}
    for line in response.iter_lines():
        if line == "":
            if current:
                events.append(current)
                if current.get("event") == "done" or (stop_after and len(events) >= stop_after):
                    return events
            current = {}
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(": ")
            if field == "data" and "data" in current:
                current["data"] += "\n" + value
            else:
                current[field] = value
    return events


def start_turn(client, text, **params):
    data = {"model": "glm-4-flash", "message": text, "do_sample": "true", **params}
    response = client.post("/playground/send/", data=data)
    assert response.status_code == 200, response.text
    return Message.objects.filter(role="assistant").latest("id")


def test_stream_relays_deltas_then_the_rendered_message(alice_http):
    reply = start_turn(alice_http, "Hello [[fault:latency=5]]")
    with alice_http.stream("GET", f"/playground/m/{reply.id}/stream/") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = read_events(response)
    assert events[0]["event"] == "reset"
    deltas = [e for e in events if e["event"] == "delta"]
    assert deltas and all("id" in e for e in deltas)
    assert events[-1]["event"] == "done"
    reply.refresh_from_db()
    assert reply.status == "done"
    assert "".join(e["data"] for e in deltas).replace("\n", "").strip()
    assert f"{reply.completion_tokens} out" in events[-1]["data"]


def chat_requests_for(upstream, request_id):
    entries = httpx.get(
        f"{upstream.url}/_sim/requests", params={"path": "/chat/completions"}
    ).json()["requests"]
    return [e for e in entries if (e["body"] or {}).get("request_id") == request_id]


def test_a_reconnect_with_last_event_id_resumes_without_repeating_or_calling_upstream_again(
    alice_http, upstream
):
    reply = start_turn(alice_http, "Tell me a story [[fault:latency=20]]")
    with alice_http.stream("GET", f"/playground/m/{reply.id}/stream/") as response:
        first = read_events(response, stop_after=4)  # reset + 3 deltas, then the connection drops
    last_id = first[-1]["id"]
    with alice_http.stream(
        "GET", f"/playground/m/{reply.id}/stream/", headers={"Last-Event-ID": last_id}
    ) as response:
        rest = read_events(response)
    assert rest[0]["event"] == "delta"  # no reset: the browser keeps what it has
    ids = [e["id"] for e in first[1:] + rest[:-1]]
    assert len(ids) == len(set(ids))
    text = "".join(e["data"] for e in first[1:] + rest if e["event"] == "delta")
    reply.refresh_from_db()
    assert reply.status == "done"
    assert text.replace("\n", "") == reply.content.replace("\n", "").replace("&", "&amp;").replace(
        "<", "&lt;"
    ).replace(">", "&gt;").replace('"', "&quot;").replace("'", "&#x27;")
    assert len(chat_requests_for(upstream, reply.request_id)) == 1


def test_a_finished_reply_streams_as_one_done_event(alice_http):
    reply = start_turn(alice_http, "Quick one")
    with alice_http.stream("GET", f"/playground/m/{reply.id}/stream/") as response:
        read_events(response)
    with alice_http.stream("GET", f"/playground/m/{reply.id}/stream/") as response:
        again = read_events(response)
    assert [e["event"] for e in again if e["event"] != "delta"][-1] == "done"


def test_stop_over_http_keeps_the_partial_reply(alice_http):
    reply = start_turn(alice_http, "A long one [[long]] [[fault:latency=30]]")
    with alice_http.stream("GET", f"/playground/m/{reply.id}/stream/") as response:
        read_events(response, stop_after=3)
    assert alice_http.post(f"/playground/m/{reply.id}/stop/").status_code == 204
    with alice_http.stream("GET", f"/playground/m/{reply.id}/stream/") as response:
        events = read_events(response)
    assert events[-1]["event"] == "done" and "stopped" in events[-1]["data"]
    reply.refresh_from_db()
    assert reply.status == "stopped" and reply.content and reply.usage_exact is False


def wait_until_final(reply, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply.refresh_from_db()
        if reply.is_final:
            return reply
        time.sleep(0.05)
    raise AssertionError(f"reply still {reply.status}")


@pytest.mark.parametrize(
    ("marker", "code", "words"),
    [
        ("[[fault:1261]]", "1261", "too long"),
        ("[[fault:1301]]", "1301", "unsafe"),
        ("[[fault:429]]", "1302", "too many"),
        ("[[fault:500]]", "500", "BigModel"),
    ],
)
def test_upstream_errors_are_saved_in_plain_words_with_the_code(alice_http, marker, code, words):
    reply = wait_until_final(start_turn(alice_http, f"Hello {marker}"))
    assert reply.status == "failed" and reply.error_code == code
    assert f"({code})" in reply.error_message and words.lower() in reply.error_message.lower()
    assert reply.prompt_tokens is None  # nothing was billed


def test_a_dropped_stream_keeps_what_arrived(alice_http):
    reply = wait_until_final(start_turn(alice_http, "Go on [[fault:drop]]"))
    assert reply.status == "failed" and reply.error_code == "network"
    assert reply.content and reply.usage_exact is False and reply.completion_tokens > 0
    # In plain words, the exception's class name only in the server's log.
    assert "the connection to BigModel dropped" in reply.error_message
    assert "What had arrived is kept" in reply.error_message and "Error" not in reply.error_message


def test_a_stream_without_usage_is_counted_and_flagged(alice_http):
    reply = wait_until_final(start_turn(alice_http, "Hi [[fault:nousage]]"))
    assert reply.status == "done" and reply.usage_exact is False
    assert reply.prompt_tokens > 0 and reply.completion_tokens > 0


@pytest.mark.parametrize("reason", ["sensitive", "length"])
def test_abnormal_finishes_are_kept_and_marked(alice_http, reason):
    marker = "[[fault:sensitive]]" if reason == "sensitive" else ""
    params = {"max_tokens": "5"} if reason == "length" else {}
    reply = wait_until_final(start_turn(alice_http, f"Talk {marker}", **params))
    assert reply.status == "done" and reply.finish_reason == reason
    page = alice_http.get(reply.conversation.get_absolute_url()).text
    assert ("content moderation" if reason == "sensitive" else "cut at max_tokens") in page


def test_with_redis_down_the_reply_is_still_saved_with_exact_usage(alice_http, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    reply = start_turn(alice_http, "Hello without Redis")
    with alice_http.stream("GET", f"/playground/m/{reply.id}/stream/") as response:
        events = read_events(response)
    assert events[-1]["event"] == "done"
    reply = wait_until_final(reply)
    assert reply.status == "done" and reply.content and reply.usage_exact
    assert reply.completion_tokens > 0
