"""The simulator speaks today's API: thinking streamed before the answer and counted as output,
cache hits for the earlier turns, and JSON mode."""

import json

from bigmodel.simulator import count_tokens, prompt_tokens
from tests.bigmodel.test_simulator import error_of, reply, stream, streamed_text, user


def thinking_and_answer(events: list) -> tuple[str, str, list[str]]:
    """The thinking, the answer, and the order the two kinds of delta came in."""
    order, thinking = [], []
    for event in events[:-1]:
        delta = event["choices"][0]["delta"]
        if delta.get("reasoning_content"):
            thinking.append(delta["reasoning_content"])
            order.append("thinking")
        elif delta.get("content"):
            order.append("answer")
    return "".join(thinking), streamed_text(events), order


def test_a_thinking_model_streams_its_reasoning_before_the_answer_and_bills_it_as_output(api):
    events = stream(api, {"model": "glm-4.7", "messages": user("Why is the sky blue?")})
    thinking, answer, order = thinking_and_answer(events)
    assert thinking and answer
    assert order == sorted(order, key=lambda kind: kind != "thinking")  # all thinking first
    usage = events[-2]["usage"]
    assert usage["completion_tokens_details"]["reasoning_tokens"] == count_tokens(thinking)
    assert usage["completion_tokens"] == count_tokens(thinking) + count_tokens(answer)


def test_thinking_disabled_or_a_model_that_does_not_think_sends_no_reasoning(api):
    for body in (
        {"model": "glm-4.7", "thinking": {"type": "disabled"}},
        {"model": "glm-4-flash", "thinking": {"type": "enabled"}},
    ):
        events = stream(api, {**body, "messages": user("Why is the sky blue?")})
        thinking, answer, _ = thinking_and_answer(events)
        assert thinking == "" and answer
        assert "completion_tokens_details" not in events[-2]["usage"]
    plain = reply(api, {"model": "glm-4.7", "messages": user("Hi"), "thinking": None})
    assert plain["choices"][0]["message"]["reasoning_content"]  # on by default


def test_thinking_counts_against_max_tokens(api):
    body = {"model": "glm-4.7", "messages": user("Why is the sky blue?"), "max_tokens": 8}
    payload = reply(api, body)
    assert payload["usage"]["completion_tokens"] == 8
    assert payload["choices"][0]["finish_reason"] == "length"


def test_a_bad_thinking_value_is_a_1214(api):
    response = api.post(
        "chat/completions",
        json={"model": "glm-4.7", "messages": user("Hi"), "thinking": {"type": "sometimes"}},
    )
    assert error_of(response)[:2] == (400, "1214")


def test_earlier_turns_are_cache_hits_for_a_model_with_a_context_cache(api):
    messages = [
        {"role": "user", "content": "Tell me about caches"},
        {"role": "assistant", "content": "Caches keep what was read."},
        {"role": "user", "content": "And again"},
    ]
    cached = reply(
        api, {"model": "glm-4.7", "messages": messages, "thinking": {"type": "disabled"}}
    )
    details = cached["usage"]["prompt_tokens_details"]
    assert details["cached_tokens"] == prompt_tokens(messages[:-1])
    uncached = reply(api, {"model": "glm-4-flash", "messages": messages})
    assert uncached["usage"]["prompt_tokens_details"]["cached_tokens"] == 0


def test_json_mode_answers_with_one_json_object_and_a_marker_breaks_it(api):
    body = {"model": "glm-4.7", "response_format": {"type": "json_object"}}
    good = reply(api, {**body, "messages": user("List three colours")})
    assert isinstance(json.loads(good["choices"][0]["message"]["content"]), dict)
    bad = reply(api, {**body, "messages": user("List three colours [[fault:badjson]]")})
    content = bad["choices"][0]["message"]["content"]
    try:
        json.loads(content)
    except ValueError:
        pass
    else:
        raise AssertionError(f"parsed: {content!r}")


def test_the_web_search_tool_answers_with_the_pages_it_read_plain_and_streamed(api):
    tool = {
        "type": "web_search",
        "web_search": {"enable": True, "search_result": True, "count": 3},
    }
    body = {"model": "glm-4.7", "messages": user("Rust borrow checker"), "tools": [tool]}
    plain = reply(api, {**body, "thinking": {"type": "disabled"}})
    pages = plain["web_search"]
    assert [page["refer"] for page in pages] == ["ref_1", "ref_2", "ref_3"]
    assert all(page["link"].startswith("https://") and page["title"] for page in pages)
    assert "[ref_1]" in plain["choices"][0]["message"]["content"]
    events = stream(api, body)
    assert events[0]["web_search"] == pages  # the first chunk carries them
    hidden = reply(api, {**body, "tools": [{**tool, "web_search": {"count": 3}}]})
    assert "web_search" not in hidden  # search_result not asked for: nothing listed
    bad = api.post("chat/completions", json={**body, "tools": [{"type": "web_search"}]})
    assert error_of(bad)[:2] == (400, "1214")


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}


def test_a_function_is_called_in_pieces_then_its_result_answered(api):
    asked = user("Use get_weather for Hangzhou")
    plain = reply(api, {"model": "glm-4.7", "messages": asked, "tools": [WEATHER]})
    choice = plain["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] == ""
    (call,) = choice["message"]["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "example"}
    thought = plain["usage"]["completion_tokens_details"]["reasoning_tokens"]
    assert choice["message"]["reasoning_content"] and thought > 0  # it thinks before it calls
    assert plain["usage"]["completion_tokens"] == thought + count_tokens(
        call["function"]["arguments"]
    )

    events = stream(api, {"model": "glm-4.7", "messages": asked, "tools": [WEATHER]})
    pieces = [
        part
        for event in events[:-1]
        for part in event["choices"][0]["delta"].get("tool_calls") or ()
    ]
    assert pieces[0]["id"] == call["id"] and pieces[0]["function"]["name"] == "get_weather"
    assert len(pieces) > 2  # the arguments come in several pieces
    assert "".join(p["function"]["arguments"] for p in pieces) == call["function"]["arguments"]
    assert events[-2]["choices"][0]["finish_reason"] == "tool_calls"

    follow_up = [
        *asked,
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "Sunny, 21 °C"},
    ]
    answer = reply(api, {"model": "glm-4.7", "messages": follow_up, "tools": [WEATHER]})
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert "Sunny, 21 °C" in answer["choices"][0]["message"]["content"]


def test_a_function_without_a_name_is_a_1214(api):
    bad = {"type": "function", "function": {"description": "no name"}}
    response = api.post(
        "chat/completions", json={"model": "glm-4.7", "messages": user("Hi"), "tools": [bad]}
    )
    assert error_of(response)[:2] == (400, "1214")
