"""The stream endpoint over real HTTP: relay, resume with Last-Event-ID, one upstream call."""

import time

import httpx

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
    assert "".join(e["data"] for e in deltas).replace("\n", "") .strip()
    assert f"{reply.completion_tokens} out" in events[-1]["data"]
