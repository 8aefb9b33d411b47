"""Function calling in the playground: functions defined as JSON (checked before anything is
sent), the model's calls saved and shown as cards, the user's results sent back as tool messages
and the turn continued; and earlier thinking sent back where the model needs it."""

import html
import json

import pytest

from playground.models import Message
from tests.playground.test_streaming import start_turn, wait_until_final
from tests.playground.test_today import _snippets, member_key, run_snippets

WEATHER = {
    "name": "get_weather",
    "description": "The current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
TOOLS = json.dumps([{"type": "function", "function": WEATHER}])


def _calling_turn(client, **params):
    """A turn on GLM-4.7 in which the model calls get_weather (the simulator calls a function the
    message names)."""
    fields = {"model": "glm-4.7", "thinking": "disabled", "tools": TOOLS, **params}
    return wait_until_final(start_turn(client, "Use get_weather for Paris", **fields))


def _answer(client, reply, results, **params):
    data = {"model": "glm-4.7", "thinking": "disabled", "tools": TOOLS, "do_sample": "true"}
    data |= params
    data["tool_call_id"] = [call_id for call_id, _ in results]
    data["content"] = [text for _, text in results]
    return client.post(f"/playground/c/{reply.conversation.public_id}/results/", data=data)


def test_a_function_call_is_shown_answered_and_the_turn_continues(alice_http, sim_log):
    reply = _calling_turn(alice_http)
    assert reply.finish_reason == "tool_calls" and reply.content == ""
    [call] = reply.tool_calls
    assert call["function"] == {"name": "get_weather", "arguments": '{"city": "example"}'}
    assert reply.params["tools"] == [{"type": "function", "function": WEATHER}]

    page = alice_http.get(reply.conversation.get_absolute_url()).text
    assert '<code class="name">get_weather</code>' in page
    assert "&quot;city&quot;: &quot;example&quot;" in page  # the arguments, indented JSON
    assert f'name="tool_call_id" value="{call["id"]}"' in page  # a result is asked for

    response = _answer(alice_http, reply, [(call["id"], "Sunny, 21 °C")])
    assert response.status_code == 200 and response.headers["HX-Retarget"] == "#transcript"
    follow_up = wait_until_final(Message.objects.filter(role="assistant").latest("id"))
    assert follow_up.status == "done"
    assert follow_up.content.startswith("The tool answered: Sunny, 21 °C.")

    sent = sim_log.call_for(follow_up.request_id)[0]["body"]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[1]["tool_calls"] == [call] and sent[1]["content"] is None
    assert sent[2] == {"role": "tool", "tool_call_id": call["id"], "content": "Sunny, 21 °C"}

    page = alice_http.get(reply.conversation.get_absolute_url()).text
    assert '<span class="tag">result</span><pre>Sunny, 21 °C</pre>' in page
    assert 'name="tool_call_id"' not in page  # answered: no form any more


def test_results_are_refused_until_every_call_has_one(alice_http):
    reply = _calling_turn(alice_http)
    response = _answer(alice_http, reply, [])
    assert response.headers["HX-Retarget"] == "#form-errors"
    assert "Give a result for each function call (missing: get_weather)" in response.text
    assert not Message.objects.filter(role="tool").exists()


def test_results_are_refused_when_the_last_reply_called_nothing(alice_http):
    reply = wait_until_final(start_turn(alice_http, "Hello", model="glm-4.7"))
    response = _answer(alice_http, reply, [("call_x", "42")])
    assert "The last reply called no function" in response.text
    assert Message.objects.count() == 2


def test_a_new_message_instead_of_results_leaves_the_calls_out(alice_http, sim_log):
    reply = _calling_turn(alice_http)
    conversation = str(reply.conversation.public_id)
    start_turn(alice_http, "Never mind; say hello", model="glm-4.7", conversation=conversation)
    follow_up = wait_until_final(Message.objects.filter(role="assistant").latest("id"))
    assert follow_up.status == "done"
    sent = sim_log.call_for(follow_up.request_id)[0]["body"]["messages"]
    assert [m["role"] for m in sent] == ["user", "user"]  # the unanswered call is not sent


@pytest.mark.parametrize(
    ("tools", "words"),
    [
        ("[{", "tools is not JSON: Expecting property name enclosed in double quotes"),
        ("[]", "tools is an empty list"),
        ('[{"name": "get weather"}]', "name must be 1 to 64 letters, digits, _ or -"),
        ('[{"name": "f", "parameters": {"type": "array"}}]', 'JSON Schema of "type": "object"'),
        (
            '[{"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": 1}}}}]',
            "parameters is not a valid JSON Schema",
        ),
        ('[{"name": "f"}, {"name": "f"}]', "two functions are named “f”"),
        ('[{"name": "f", "args": {}}]', "unknown field args"),
        pytest.param(
            "[" * 20000 + "]" * 20000, "tools is nested too deeply to be read", id="deep-json"
        ),
        pytest.param(
            '[{"name": "f", "parameters": {"type": "object", "properties": {"a": '
            + '{"items": ' * 1500
            + "{}"
            + "}" * 1500
            + "}}}]",
            "f: parameters is nested too deeply to be checked",
            id="deep-schema",
        ),
    ],
)
def test_functions_are_checked_before_anything_is_sent(alice_http, sim_log, tools, words):
    data = {"model": "glm-4.7", "message": "Hi", "tools": tools}
    response = alice_http.post("/playground/send/", data=data)
    assert response.headers["HX-Retarget"] == "#form-errors"
    assert words in html.unescape(response.text)
    assert not Message.objects.exists() and sim_log.calls() == []


def test_a_model_that_calls_no_functions_is_refused_tools(alice_http):
    data = {"model": "glm-4v-plus", "message": "Hi", "tools": TOOLS}
    response = alice_http.post("/playground/send/", data=data)
    assert "does not call functions" in response.text


def test_bare_function_definitions_are_sent_as_the_api_takes_them(alice_http):
    reply = wait_until_final(
        start_turn(alice_http, "Hi", model="glm-4.7", tools=json.dumps(WEATHER))
    )
    assert reply.params["tools"] == [{"type": "function", "function": WEATHER}]
    page = alice_http.get(reply.conversation.get_absolute_url()).text
    assert "&quot;get_weather&quot;" in page.split('id="id_tools"')[1].split("</textarea>")[0]


def test_thinking_goes_back_with_the_calls_of_the_turn_in_progress(alice_http, sim_log):
    reply = _calling_turn(alice_http, thinking="enabled")
    assert reply.reasoning_content
    _answer(alice_http, reply, [(reply.tool_calls[0]["id"], "Rain")], thinking="enabled")
    follow_up = wait_until_final(Message.objects.filter(role="assistant").latest("id"))
    sent = sim_log.call_for(follow_up.request_id)[0]["body"]["messages"]
    assert sent[1]["reasoning_content"] == reply.reasoning_content


def test_clear_thinking_false_keeps_every_earlier_thought(alice_http, sim_log):
    first = wait_until_final(start_turn(alice_http, "Why is the sky blue?", model="glm-4.7"))
    conversation = str(first.conversation.public_id)
    for clear, kept in (("", False), ("false", True)):
        start_turn(
            alice_http,
            "And at sunset?",
            model="glm-4.7",
            conversation=conversation,
            clear_thinking=clear,
        )
        reply = wait_until_final(Message.objects.filter(role="assistant").latest("id"))
        sent = sim_log.call_for(reply.request_id)[0]["body"]
        assert ("reasoning_content" in sent["messages"][1]) is kept
    assert sent["thinking"] == {"type": "enabled", "clear_thinking": False}
    assert sent["messages"][1]["reasoning_content"] == first.reasoning_content
    page = alice_http.get(first.conversation.get_absolute_url()).text
    assert "thinking=enabled, clear_thinking false" in page  # as sent, in words


def test_clear_thinking_is_refused_where_the_model_keeps_no_thinking(alice_http):
    data = {"model": "glm-4.6", "message": "Hi", "clear_thinking": "false"}
    response = alice_http.post("/playground/send/", data=data)
    assert "does not keep earlier thinking" in response.text


@pytest.mark.parametrize(
    ("model", "effort", "thinking", "words"),
    [
        ("glm-4.7", "high", "", "GLM-4.7 takes no reasoning_effort"),
        ("glm-5.3", "medium", "", "reasoning_effort for GLM-5.3 is one of low, high, max"),
        ("glm-5.2", "high", "disabled", "it needs thinking enabled"),
    ],
)
def test_reasoning_effort_is_refused_where_the_model_does_not_take_it(
    alice_http, model, effort, thinking, words
):
    data = {"model": model, "message": "Hi", "reasoning_effort": effort, "thinking": thinking}
    response = alice_http.post("/playground/send/", data=data)
    assert words in html.unescape(response.text)


def test_reasoning_effort_is_sent_and_none_skips_the_thinking(alice_http, sim_log):
    reply = wait_until_final(start_turn(alice_http, "Hi", model="glm-5.2", reasoning_effort="none"))
    assert reply.status == "done" and reply.params["reasoning_effort"] == "none"
    assert sim_log.call_for(reply.request_id)[0]["body"]["reasoning_effort"] == "none"
    assert reply.reasoning_content == ""
    reply = wait_until_final(start_turn(alice_http, "Hi", model="glm-5.3", reasoning_effort="low"))
    assert reply.status == "done" and reply.reasoning_content


def test_view_code_carries_functions_and_reasoning_effort_through_each_sdk(alice_http):
    data = {"model": "glm-5.3", "message": "Use get_weather for Oslo", "tools": TOOLS}
    data["reasoning_effort"] = "low"
    code = _snippets(alice_http.post("/playground/code/", data=data).text)
    for slug in ("zai", "zhipuai"):  # their create() has no reasoning_effort: extra_body
        assert "extra_body={\n        'reasoning_effort': 'low'," in code[slug], slug
    assert "reasoning_effort='low'," in code["openai"]  # the openai SDK names it
    run_snippets(code, member_key("alice"))


def test_results_sent_twice_are_answered_once(alice_http):
    reply = _calling_turn(alice_http)
    results = [(reply.tool_calls[0]["id"], "Sunny")]
    _answer(alice_http, reply, results)
    again = _answer(alice_http, reply, results)
    assert again.headers["HX-Retarget"] == "#form-errors"
    assert Message.objects.filter(role="tool").count() == 1
    assert Message.objects.filter(role="assistant").count() == 2


def test_regenerate_after_results_answers_them_again_and_edit_drops_them(alice_http, sim_log):
    reply = _calling_turn(alice_http)
    _answer(alice_http, reply, [(reply.tool_calls[0]["id"], "Fog")])
    wait_until_final(Message.objects.filter(role="assistant").latest("id"))
    conversation = reply.conversation.public_id
    data = {"model": "glm-4.7", "thinking": "disabled", "tools": TOOLS, "do_sample": "true"}
    alice_http.post(f"/playground/c/{conversation}/regenerate/", data=data)
    again = wait_until_final(Message.objects.filter(role="assistant").latest("id"))
    assert again.content.startswith("The tool answered: Fog.")
    assert [m["role"] for m in sim_log.call_for(again.request_id)[0]["body"]["messages"]] == [
        "user",
        "assistant",
        "tool",
    ]
    alice_http.post(f"/playground/c/{conversation}/edit/", data={**data, "message": "Say hi"})
    edited = wait_until_final(Message.objects.filter(role="assistant").latest("id"))
    assert [m.role for m in Message.objects.order_by("id")] == ["user", "assistant"]
    assert edited.tool_calls == [] and edited.status == "done"


def test_a_call_id_seen_before_is_answered_by_its_own_result(alice_http, sim_log):
    first = _calling_turn(alice_http)
    _answer(alice_http, first, [(first.tool_calls[0]["id"], "Sunny")])
    wait_until_final(Message.objects.filter(role="assistant").latest("id"))
    conversation = str(first.conversation.public_id)
    fields = {"model": "glm-4.7", "thinking": "disabled", "tools": TOOLS}
    again = wait_until_final(
        start_turn(alice_http, "Use get_weather for Paris", conversation=conversation, **fields)
    )
    assert again.tool_calls[0]["id"] == first.tool_calls[0]["id"]  # the simulator's are alike
    page = alice_http.get(first.conversation.get_absolute_url()).text
    assert page.count('name="tool_call_id"') == 1  # the new call waits for its own result
    _answer(alice_http, again, [(again.tool_calls[0]["id"], "Rain")])
    last = wait_until_final(Message.objects.filter(role="assistant").latest("id"))
    assert last.status == "done" and last.content.startswith("The tool answered: Rain.")
    sent = sim_log.call_for(last.request_id)[0]["body"]["messages"]
    assert [m["content"] for m in sent if m["role"] == "tool"] == ["Sunny", "Rain"]


def test_results_need_a_model_that_calls_functions_and_keep_the_functions(alice_http, sim_log):
    reply = _calling_turn(alice_http)
    call = [(reply.tool_calls[0]["id"], "Sunny")]
    refused = _answer(alice_http, reply, call, model="glm-4v-plus", thinking="")
    assert "GLM-4V-Plus does not call functions" in html.unescape(refused.text)
    _answer(alice_http, reply, call, tools="")  # the box was emptied meanwhile
    follow_up = wait_until_final(Message.objects.filter(role="assistant").latest("id"))
    assert sim_log.call_for(follow_up.request_id)[0]["body"]["tools"] == reply.params["tools"]
