"""Today's models in Chromium: the controls a model offers, thinking shown apart while it
streams and folded once saved, and a JSON reply shown formatted."""

import json
import re

import pytest
from playwright.sync_api import expect

from playground.models import Message
from tests.e2e.test_playground_chat import send

pytestmark = pytest.mark.e2e


def test_thinking_streams_apart_then_folds_and_a_json_reply_is_formatted(
    page, live_server_url, upstream
):
    page.goto(f"{live_server_url}/playground/")
    page.select_option("#id_model", "glm-4-flash")  # neither thinks nor promises JSON
    expect(page.locator('[data-needs="thinking"]')).to_be_hidden()
    expect(page.locator('[data-needs="json_output"]')).to_be_visible()
    page.select_option("#id_model", "glm-4v-plus")
    expect(page.locator('[data-needs="json_output"]')).to_be_hidden()
    page.select_option("#id_model", "glm-4.7")
    # A value the SDKs would change says so next to its control.
    note = page.locator('[data-sent-as="temperature"]')
    expect(note).to_be_hidden()
    page.fill("#id_temperature", "1")
    expect(note).to_have_text("Sent as 0.99, as the official SDKs do.")
    page.fill("#id_temperature", "0.7")
    expect(note).to_be_hidden()
    expect(page.locator("#id_thinking")).to_be_visible()
    expect(page.locator("#thinking-range")).to_contain_text("on by default")

    send(page, "Why is the sky blue? [[fault:latency=40]]")
    live = page.locator("#transcript .message.assistant.live")
    expect(live.locator("details.thinking")).to_be_visible()
    expect(live.locator(".thinking-body")).not_to_be_empty()
    # Its length counts up while it streams, estimated until the upstream's count arrives.
    expect(live.locator("details.thinking summary")).to_have_text(
        re.compile(r"Thinking… ~\d+ tokens")
    )
    done = page.locator("#transcript .message.assistant.done")
    expect(done).to_have_count(1)
    reply = Message.objects.get(role="assistant")
    assert reply.reasoning_content and reply.reasoning_tokens
    thinking = done.locator("details.thinking")
    assert thinking.evaluate("details => details.open") is False  # folded once saved
    expect(thinking.locator("summary")).to_have_text(f"Thinking · {reply.reasoning_tokens} tokens")
    assert thinking.locator(".thinking-body").text_content() == reply.reasoning_content
    expect(done.locator(".body")).not_to_contain_text(reply.reasoning_content[:30])
    expect(done.locator(".stats")).to_contain_text(f"({reply.reasoning_tokens} thinking)")

    page.select_option("#id_thinking", "disabled")
    page.select_option("#id_response_format", "json_object")
    send(page, "Three colours")
    expect(done).to_have_count(2)
    shown = done.last.locator("pre.body.json")
    expect(shown).to_have_count(1)
    assert isinstance(json.loads(shown.text_content()), dict)
    expect(done.last.locator("details.thinking")).to_have_count(0)


def test_web_search_lists_its_sources_under_the_reply(page, live_server_url, upstream):
    page.goto(f"{live_server_url}/playground/")
    page.select_option("#id_model", "glm-4v-plus")
    expect(page.locator('[data-needs="web_search"]')).to_be_hidden()
    page.select_option("#id_model", "glm-4.7")
    page.check("#id_web_search")
    page.fill("#id_count", "2")
    page.select_option("#id_thinking", "disabled")
    send(page, "Rust borrow checker")
    done = page.locator("#transcript .message.assistant.done")
    expect(done).to_have_count(1)
    links = done.locator(".sources a")
    expect(links).to_have_count(2)
    for n in range(2):
        expect(links.nth(n)).to_have_attribute("target", "_blank")
        expect(links.nth(n)).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(links.first).to_have_text("Rust borrow checker: result 1")


def test_the_image_page_offers_quality_only_for_models_that_take_it(page, live_server_url):
    page.goto(f"{live_server_url}/playground/images/")
    page.select_option("#id_image_model", "cogview-3-plus")
    expect(page.locator("#quality-field")).to_be_hidden()
    page.select_option("#id_image_model", "cogview-4")
    expect(page.locator("#quality-field")).to_be_visible()
    expect(page.locator("#id_quality option")).to_have_text(["standard (default)", "hd"])
    page.select_option("#id_image_model", "glm-image")
    expect(page.locator("#id_quality option")).to_have_text(["hd (default)"])
    expect(page.locator("#id_size option").first).to_have_text("1280 × 1280 (default)")


def test_a_function_call_is_answered_and_the_turn_continues(page, live_server_url, upstream):
    page.goto(f"{live_server_url}/playground/")
    page.select_option("#id_model", "glm-4v-plus")  # calls no functions
    expect(page.locator('[data-needs="tools"]')).to_be_hidden()
    page.select_option("#id_model", "glm-4.7")
    page.click("#tools-example")
    assert json.loads(page.input_value("#id_tools"))[0]["function"]["name"] == "get_weather"
    send(page, "Use get_weather for Paris")
    card = page.locator("#transcript .tool-call")
    expect(card.locator(".name")).to_have_text("get_weather")
    assert json.loads(card.locator(".arguments").text_content()) == {"city": "example"}

    page.fill(".tool-answer textarea", '{"sky": "clear", "celsius": 21}')
    page.click(".tool-answer button[type=submit]")
    done = page.locator("#transcript .message.assistant.done")
    expect(done).to_have_count(2)
    expect(done.last.locator(".body")).to_contain_text('The tool answered: {"sky": "clear"')
    expect(card.locator(".tool-result pre")).to_have_text('{"sky": "clear", "celsius": 21}')
    expect(page.locator(".tool-answer")).to_have_count(0)
    assert [m.role for m in Message.objects.order_by("id")] == [
        "user",
        "assistant",
        "tool",
        "assistant",
    ]
    # The tools stay in the box for the next turn, and go only to models that take them.
    page.reload()
    assert "get_weather" in page.input_value("#id_tools")
    page.select_option("#id_model", "glm-4v-plus")
    assert page.locator("#id_tools").is_disabled()


def test_markup_in_a_streamed_thinking_shows_as_the_text_it_is(page, live_server_url):
    """The page writes each delta as text (the thinking) or through the sanitising markdown (the
    answer): a reply's markup never runs, live or saved."""
    page.goto(f"{live_server_url}/playground/")
    page.select_option("#id_model", "glm-4.7")
    send(page, 'Think: <img src=x onerror="window.ran=1"> [[fault:latency=40]]')
    thinking = page.locator("#transcript .message.assistant.live .thinking-body")
    expect(thinking).to_contain_text('<img src=x onerror="window.ran=1">')
    assert thinking.locator("img").count() == 0
    done = page.locator("#transcript .message.assistant.done")
    expect(done).to_have_count(1)
    expect(done.locator(".thinking-body")).to_contain_text('<img src=x onerror="window.ran=1">')
    assert page.evaluate("window.ran") is None
