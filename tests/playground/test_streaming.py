"""The stream endpoint over real HTTP: relay, resume with Last-Event-ID, one upstream call."""

import threading
import time
import uuid

import httpx
import pytest
from django.urls import resolve

from playground.models import Message
from playground.services.replies import reply_stream_of
from runtime.sse import event
from tests.support import http_client_for


def read_events(response, stop_after=None, lines=None):
    """The stream's events up to `done` (or ``stop_after`` of them); ``lines`` gets each line as
    it comes."""
    events, current = [], {}
    for line in response.iter_lines():
        if lines is not None:
            lines.append(line)
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
    with alice_http.stream("GET", f"/playground/r/{reply.public_id}/stream/") as response:
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


def listen_in_background(client, reply_id, *, read_timeout=20.0):
    """The page's way: the reply's stream opened before its turn is sent; read in a thread."""
    heard: dict = {}

    def run():
        try:
            url = f"/playground/r/{reply_id}/stream/"
            with client.stream("GET", url, timeout=httpx.Timeout(5, read=read_timeout)) as response:
                heard["status"], heard["lines"] = response.status_code, []
                heard["events"] = read_events(response, lines=heard["lines"])
        except httpx.ReadTimeout:
            heard["timed_out"] = True

    thread = threading.Thread(target=run)
    thread.start()
    return thread, heard


def test_a_stream_opened_before_its_turn_carries_the_whole_reply(alice_http):
    earlier = wait_until_final(start_turn(alice_http, "An earlier chat")).conversation
    reply_id = uuid.uuid4()
    thread, heard = listen_in_background(alice_http, reply_id)
    time.sleep(0.3)  # the stream is open and waiting before the reply exists
    response = alice_http.post(
        "/playground/send/",
        data={"model": "glm-4-flash", "message": "Hello", "reply": str(reply_id)},
    )
    thread.join(20)
    reply = Message.objects.get(public_id=reply_id)
    # The POST answers with the user's message only, placed in front of the page's placeholder.
    assert response.headers["HX-Retarget"] == f"#reply-{reply_id}"
    assert response.headers["HX-Reswap"] == "beforebegin"
    assert "Hello" in response.text and 'class="message assistant' not in response.text
    # Only what changed: the new conversation's sidebar entry, not the rest of the sidebar.
    assert reply.conversation.get_absolute_url() in response.text
    assert earlier.get_absolute_url() not in response.text
    events = heard["events"]
    assert heard["status"] == 200 and events[0]["event"] == "reset"
    assert events[-1]["event"] == "done" and f"{reply.completion_tokens} out" in events[-1]["data"]
    deltas = "".join(e["data"] for e in events if e["event"] == "delta")
    assert deltas == reply.content  # the text as it arrived: the page alone decides how it shows


def test_a_reply_id_is_taken_once(alice_http):
    reply_id = str(uuid.uuid4())
    data = {"model": "glm-4-flash", "message": "Hello", "reply": reply_id}
    assert "turn-sent" in alice_http.post("/playground/send/", data=data).headers["HX-Trigger"]
    again = alice_http.post("/playground/send/", data={**data, "message": "Again"})
    assert "already used" in again.text and "HX-Trigger" not in again.headers
    assert Message.objects.filter(role="user").count() == 1


def test_nobody_else_hears_a_reply_even_by_its_id(alice_http, make_user, live_server_url):
    bob = http_client_for(make_user("bob"), live_server_url)
    reply_id = uuid.uuid4()
    thread, heard = listen_in_background(bob, reply_id, read_timeout=3)
    time.sleep(0.3)  # bob listens first, under alice's coming reply's id
    alice_http.post(
        "/playground/send/",
        data={"model": "glm-4-flash", "message": "Hello", "reply": str(reply_id)},
    )
    wait_until_final(Message.objects.get(role="assistant"))
    thread.join(10)
    # bob's stream, open all along, carried nothing of alice's reply.
    assert heard["status"] == 200 and heard["timed_out"] and "events" not in heard
    assert [line for line in heard["lines"] if line.startswith("event:")] == ["event: reset"]
    assert bob.get(f"/playground/r/{reply_id}/stream/").status_code == 404
    bob.close()


def test_a_reconnect_with_last_event_id_resumes_without_repeating_or_calling_upstream_again(
    alice_http, upstream
):
    reply = start_turn(alice_http, "Tell me a story [[fault:latency=20]]")
    with alice_http.stream("GET", f"/playground/r/{reply.public_id}/stream/") as response:
        first = read_events(response, stop_after=4)  # reset + 3 deltas, then the connection drops
    last_id = first[-1]["id"]
    with alice_http.stream(
        "GET", f"/playground/r/{reply.public_id}/stream/", headers={"Last-Event-ID": last_id}
    ) as response:
        rest = read_events(response)
    assert rest[0]["event"] == "delta"  # no reset: the browser keeps what it has
    ids = [e["id"] for e in first[1:] + rest[:-1]]
    assert len(ids) == len(set(ids))
    text = "".join(e["data"] for e in first[1:] + rest if e["event"] == "delta")
    reply.refresh_from_db()
    assert reply.status == "done"
    assert text == reply.content
    assert len(chat_requests_for(upstream, reply.request_id)) == 1


def test_markup_in_the_thinking_and_line_breaks_of_every_kind_arrive_as_the_text_they_are(
    alice_http,
):
    """Deltas are the text as it arrived, written once: nothing escaped for a page to unescape,
    and a carriage return (an SSE line end) is a line break, never the end of the event."""
    markup = '<img src=x onerror="alert(1)"> & "quotes"'
    reply = start_turn(alice_http, f"Think: {markup}", model="glm-4.5-flash")
    with alice_http.stream("GET", f"/playground/r/{reply.public_id}/stream/") as response:
        events = read_events(response)
    reply.refresh_from_db()
    thinking = "".join(e["data"] for e in events if e["event"] == "thinking")
    assert '<img src=x onerror="alert(1)">' in thinking
    assert thinking == reply.reasoning_content
    assert event("delta", "one\rtwo\r\nthree\nfour").split("\n")[:-2] == [
        "event: delta",
        "data: one",
        "data: two",
        "data: three",
        "data: four",
    ]


def test_a_finished_reply_streams_as_one_done_event(alice_http):
    reply = start_turn(alice_http, "Quick one")
    with alice_http.stream("GET", f"/playground/r/{reply.public_id}/stream/") as response:
        read_events(response)
    with alice_http.stream("GET", f"/playground/r/{reply.public_id}/stream/") as response:
        again = read_events(response)
    assert [e["event"] for e in again if e["event"] != "delta"][-1] == "done"


def test_stop_over_http_keeps_the_partial_reply(alice_http):
    reply = start_turn(alice_http, "A long one [[long]] [[fault:latency=30]]")
    with alice_http.stream("GET", f"/playground/r/{reply.public_id}/stream/") as response:
        read_events(response, stop_after=3)
    assert alice_http.post(f"/playground/r/{reply.public_id}/stop/").status_code == 204
    with alice_http.stream("GET", f"/playground/r/{reply.public_id}/stream/") as response:
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
        ("[[fault:1304]]", "1304", "try again tomorrow"),
        ("[[fault:1308]]", "1308", "resets at 2026-12-01 20:00:00"),
        ("[[fault:1312]]", "1312", "try another model"),
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


def test_with_redis_down_the_reply_is_still_saved_with_exact_usage(alice_http, settings, caplog):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    reply = start_turn(alice_http, "Hello without Redis [[fault:latency=20]]")
    with alice_http.stream("GET", f"/playground/r/{reply.public_id}/stream/") as response:
        events = read_events(response)
    assert events[-1]["event"] == "done"
    reply = wait_until_final(reply)
    assert reply.status == "done" and reply.content and reply.usage_exact
    assert reply.completion_tokens > 0
    # The first failed write turns live display off: no write, and no warning, a delta after it.
    lost = [r for r in caplog.records if "continues without live streaming" in r.getMessage()]
    assert len(lost) == 1


def test_event_streams_are_the_first_urls_tried():
    """A request keeps the patterns tried before its own for as long as it runs: minutes, for a
    stream."""
    for url in (f"/playground/r/{uuid.uuid4()}/stream/", "/playground/m/1/cost/"):
        assert len(resolve(url).tried) <= 2, url


def test_a_reply_that_arrives_at_once_still_streams_its_first_delta_on_its_own(alice_http):
    """The upstream's whole reply in one read: its first delta is written to the reply's stream
    while the rest is still being read, not joined with all of it at the end."""
    reply = wait_until_final(start_turn(alice_http, "All at once [[long]]"))
    deltas = [piece.text for piece in reply_stream_of(reply).pieces_so_far() if not piece.is_final]
    assert len(deltas) > 1, "the whole reply went out as one delta"
    assert "".join(deltas) == reply.content
    assert len(deltas[0]) < len(reply.content) / 10


def test_the_pages_own_placeholder_opens_its_stream_without_a_lookup(
    alice_http, make_user, live_server_url
):
    """The page's placeholder names a reply its POST is about to save: its stream is opened as
    new, with nothing looked up, on the user's own key. Someone else's reply id there carries
    nothing of theirs, where the same stream opened as any other is a 404."""
    page = alice_http.get("/playground/").text
    assert 'sse-connect="/playground/r/00000000-0000-0000-0000-000000000000/stream/?new=1"' in page
    reply = wait_until_final(start_turn(alice_http, "Hello"))
    bob = http_client_for(make_user("bob"), live_server_url)
    url = f"/playground/r/{reply.public_id}/stream/"
    assert bob.get(url).status_code == 404
    lines: list[str] = []
    with bob.stream("GET", f"{url}?new=1", timeout=httpx.Timeout(5, read=1)) as response:
        with pytest.raises(httpx.ReadTimeout):
            read_events(response, lines=lines)
    assert response.status_code == 200
    assert [line for line in lines if line.startswith("event:")] == ["event: reset"]
    bob.close()
    # Alice's own reply, opened as new, is replayed whole from its stream.
    with alice_http.stream("GET", f"{url}?new=1") as response:
        events = read_events(response)
    assert events[0]["event"] == "reset" and events[-1]["event"] == "done"
