"""The chat playground end to end: Chromium → uvicorn → Redis → the simulator over HTTP."""

import re

import httpx
import pytest
from playwright.sync_api import expect

from playground.models import Conversation, Message
from tests.support import wait_until

pytestmark = pytest.mark.e2e


def chat_requests(upstream, request_id=None) -> list[dict]:
    entries = httpx.get(
        f"{upstream.url}/_sim/requests", params={"path": "/chat/completions"}
    ).json()["requests"]
    bodies = [entry["body"] for entry in entries]
    if request_id is not None:
        bodies = [body for body in bodies if body.get("request_id") == request_id]
    return bodies


def send(page, text):
    page.fill("#id_message", text)
    page.click("#send")


ANSWER_TURNS_LATE = """
(() => {
  const open = XMLHttpRequest.prototype.open, send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.open = function (method, url, ...rest) {
    this.turn = String(url).endsWith("/playground/send/");
    return open.call(this, method, url, ...rest);
  };
  XMLHttpRequest.prototype.send = function (body) {
    const loaded = this.onload;
    if (this.turn && loaded) {
      this.onload = (event) => setTimeout(() => loaded.call(this, event), 500);
    }
    return send.call(this, body);
  };
})();
"""


def hold_the_post(page):
    """The page hears the answers to its turns half a second late, as on a slow link: their
    replies stream first."""
    page.add_init_script(ANSWER_TURNS_LATE)
    page.reload()


def last_reply(page):
    return page.locator("#transcript .message.assistant").last


def test_streamed_multi_turn_conversation_with_parameters(page, live_server_url, upstream):
    httpx.post(f"{upstream.url}/_sim/reset")
    page.select_option("#id_model", "glm-4-flash")
    page.fill("#id_system", "You are terse.")
    page.fill("#id_temperature", "0.5")
    page.fill("#id_top_p", "0.8")
    page.fill("#id_max_tokens", "300")
    page.fill("#id_seed", "42")
    page.fill("#id_stop", "zebra")
    send(page, "Tell me about rivers [[fault:latency=25]]")

    # It streams: text shows while the reply is still being written.
    live = page.locator("#transcript .message.assistant.live .body")
    expect(live).not_to_be_empty()
    assert page.locator("#transcript .message.assistant.live").count() == 1
    # The address bar has the conversation's own URL as soon as the turn is sent.
    page.wait_for_url(re.compile(r"/playground/c/[0-9a-f-]{36}/$"))
    expect(page.locator("#id_message")).to_have_value("")

    done = page.locator("#transcript .message.assistant.done")
    expect(done).to_have_count(1)
    conversation = Conversation.objects.get()
    first = conversation.messages.get(role="assistant")
    assert first.status == "done" and first.content
    assert first.prompt_tokens > 0 and first.completion_tokens > 0 and first.usage_exact
    assert first.ttft_ms is not None and first.latency_ms >= first.ttft_ms
    expect(done.locator(".stats")).to_contain_text(f"{first.prompt_tokens} in")
    expect(done.locator(".stats")).to_contain_text(f"{first.completion_tokens} out")

    sent = chat_requests(upstream, first.request_id)
    assert len(sent) == 1
    body = sent[0]
    assert body["model"] == "glm-4-flash"
    assert body["temperature"] == 0.5 and body["top_p"] == 0.8
    assert body["max_tokens"] == 300 and body["seed"] == 42 and body["stop"] == ["zebra"]
    assert body["stream"] is True
    assert body["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Tell me about rivers [[fault:latency=25]]"},
    ]

    # The second turn carries the whole history, system first.
    send(page, "And lakes?")
    expect(page.locator("#transcript .message.assistant.done")).to_have_count(2)
    second = conversation.messages.filter(role="assistant").last()
    body = chat_requests(upstream, second.request_id)[0]
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    assert body["messages"][2]["content"] == first.content
    assert body["messages"][3]["content"] == "And lakes?"

    # A reload returns to the same conversation, with everything in it.
    page.reload()
    expect(page.locator("#transcript .message")).to_have_count(4)
    expect(page.locator("#sidebar .conversations li.current")).to_contain_text(
        "Tell me about rivers"
    )
    expect(page.locator("#id_model")).to_have_value("glm-4-flash")
    expect(page.locator("#id_seed")).to_have_value("42")


def test_stop_cancels_upstream_and_keeps_the_partial_reply(page, live_server_url, upstream):
    before = httpx.get(f"{upstream.url}/_sim/stats").json()["disconnects"]
    send(page, "Write a long essay [[long]] [[fault:latency=60]]")
    live = page.locator("#transcript .message.assistant.live .body")
    expect(live).not_to_be_empty()
    page.click("#transcript .message.assistant.live button.stop")
    stopped = page.locator("#transcript .message.assistant.stopped")
    expect(stopped).to_have_count(1)
    expect(stopped.locator(".tag").first).to_contain_text("stopped")
    expect(stopped.locator(".stats")).to_contain_text("estimated")
    reply = Message.objects.get(role="assistant")
    assert reply.status == "stopped" and reply.content and not reply.usage_exact
    assert reply.completion_tokens > 0
    # The upstream saw the connection go away: cancelled there too.
    wait_until(lambda: httpx.get(f"{upstream.url}/_sim/stats").json()["disconnects"] > before)


def test_closing_the_tab_does_not_stop_the_reply(context, page, live_server_url, upstream):
    send(page, "Explain tides [[fault:latency=30]]")
    expect(page.locator("#transcript .message.assistant.live .body")).not_to_be_empty()
    page.wait_for_url(re.compile(r"/playground/c/"))
    url = page.url
    page.close()

    reply = wait_until(
        lambda: Message.objects.filter(role="assistant", status="done").first(), timeout=30
    )
    assert reply.usage_exact and reply.completion_tokens > 0
    assert len(chat_requests(upstream, reply.request_id)) == 1
    # Opening it again shows the finished reply.
    again = context.new_page()
    again.goto(url)
    expect(again.locator("#transcript .message.assistant.done .body")).to_have_count(1)


def test_reopening_a_running_reply_resumes_it_without_a_second_upstream_call(
    context, page, live_server_url, upstream
):
    send(page, "Describe mountains [[fault:latency=40]]")
    expect(page.locator("#transcript .message.assistant.live .body")).not_to_be_empty()
    page.wait_for_url(re.compile(r"/playground/c/"))
    second = context.new_page()
    second.goto(page.url)
    expect(second.locator("#transcript .message.assistant.live")).to_have_count(1)
    expect(second.locator("#transcript .message.assistant.done")).to_have_count(1, timeout=30000)
    reply = Message.objects.get(role="assistant")
    # Both tabs end with the same, whole reply; the upstream was called once.
    expect(page.locator("#transcript .message.assistant.done")).to_have_count(1)
    assert second.locator("#transcript .message.assistant.done .body").inner_text().strip()
    assert len(chat_requests(upstream, reply.request_id)) == 1


def test_upstream_error_shows_in_plain_words_and_keeps_the_typed_message(page, live_server_url):
    send(page, "First question")
    expect(page.locator("#transcript .message.assistant.done")).to_have_count(1)
    send(page, "Second one [[fault:1113]]")
    failed = page.locator("#transcript .message.assistant.failed")
    expect(failed).to_have_count(1)
    expect(failed.locator(".error")).to_contain_text("(1113)")
    expect(failed.locator(".error")).to_contain_text("alance")
    expect(page.locator("#id_message")).to_have_value("Second one [[fault:1113]]")
    # The earlier turn is intact.
    expect(page.locator("#transcript .message.assistant.done")).to_have_count(1)
    expect(page.locator("#transcript .message.user")).to_have_count(2)


COUNT_OPEN_STREAMS = """
(() => {
  const opened = [];
  const Original = window.EventSource;
  window.EventSource = function (...args) {
    const source = new Original(...args);
    opened.push(source);
    return source;
  };
  window.EventSource.prototype = Original.prototype;
  Object.assign(window.EventSource, { CONNECTING: 0, OPEN: 1, CLOSED: 2 });
  window.openStreams = () => opened.filter((source) => source.readyState !== 2).length;
})();
"""


def test_a_bad_parameter_is_refused_before_any_upstream_call(page, live_server_url, upstream):
    httpx.post(f"{upstream.url}/_sim/reset")
    page.add_init_script(COUNT_OPEN_STREAMS)
    hold_the_post(page)
    page.select_option("#id_model", "glm-4-flash")
    # The control knows the model's range (its arrows stop there).
    expect(page.locator("#id_max_tokens")).to_have_attribute("max", "4095")
    page.fill("#id_temperature", "1.5")
    send(page, "Keep this text")
    # The server refuses it in plain words, beside the field.
    expect(page.locator("#error-temperature")).to_contain_text(
        "temperature must be between 0 and 1"
    )
    expect(page.locator("#id_message")).to_have_value("Keep this text")
    assert chat_requests(upstream) == []
    assert not Conversation.objects.exists()
    # The reply's placeholder, listening since the POST left, is gone, and its stream closed.
    expect(page.locator("#transcript .message")).to_have_count(0)
    assert page.evaluate("() => window.openStreams()") == 0


def test_regenerate_and_edit_the_last_message(page, live_server_url, upstream):
    send(page, "Name a colour")
    expect(page.locator("#transcript .message.assistant.done")).to_have_count(1)
    first = Message.objects.get(role="assistant")
    page.fill("#id_seed", "7")
    page.click("#transcript [data-regenerate]")
    expect(page.locator("#transcript .message.assistant.done")).to_have_count(1)
    wait_until(lambda: not Message.objects.filter(id=first.id).exists())
    regenerated = Message.objects.get(role="assistant")
    assert regenerated.id != first.id
    assert chat_requests(upstream, regenerated.request_id)[0]["seed"] == 7

    page.click("#transcript [data-edit-message]")
    page.fill("#transcript .editor textarea", "Name a fruit")
    page.click("#transcript .editor button.primary")
    expect(page.locator("#transcript .message.user .body")).to_have_text("Name a fruit")
    expect(page.locator("#transcript .message.assistant.done")).to_have_count(1)
    edited = wait_until(
        lambda: (
            Message.objects.filter(role="assistant", status="done")
            .exclude(id=regenerated.id)
            .first()
        )
    )
    body = chat_requests(upstream, edited.request_id)[0]
    assert body["messages"][-1] == {"role": "user", "content": "Name a fruit"}
    assert Message.objects.filter(role="user").count() == 1


def test_view_code_shows_the_request_without_the_key(page, live_server_url, settings):
    page.select_option("#id_model", "glm-4-air")
    page.fill("#id_temperature", "0.3")
    page.fill("#id_message", "Hi there")
    page.click("#view-code")
    dialog = page.locator("#code-dialog")
    expect(dialog).to_be_visible()
    zhipuai = dialog.locator("[data-panel=zhipuai]")
    expect(zhipuai).to_contain_text('os.environ["GLM_CONSOLE_API_KEY"]')
    expect(zhipuai).to_contain_text(f'base_url="{live_server_url}/api/paas/v4"')
    expect(zhipuai).to_contain_text("temperature=0.3")
    # Alice has no API key yet: the dialog says so, and where to make one.
    expect(dialog.locator("#no-key")).to_contain_text("You have no API key for Personal yet")
    expect(dialog.locator("#no-key a")).to_have_attribute("href", "/accounts/keys/")
    dialog.locator("[data-tab=curl]").click()
    expect(dialog.locator("[data-panel=curl]")).to_contain_text("$GLM_CONSOLE_API_KEY")
    expect(dialog.locator("[data-panel=curl]")).to_contain_text('"model": "glm-4-air"')
    secret = settings.SIMULATOR_KEY.split(".")[1]
    assert secret not in page.content()
