"""A web search's citations in Chromium: each [ref_N] the reply writes links to the page it cites,
opening apart with no referrer, while the reply streams and once it is saved; and a reply stopped
while it was thinking says there is no answer."""

import pytest
from playwright.sync_api import expect

from playground.models import Message
from tests.e2e.test_playground_chat import last_reply, send

pytestmark = pytest.mark.e2e

# The page hears the end of each reply only when the test lets it (window.releaseEnd()), so what
# it showed while streaming can be looked at. A held end closes its EventSource at once, as the
# page would on hearing it, so that it does not reconnect meanwhile.
HOLD_THE_END = """
(() => {
  const held = new Map();
  let released = false;
  const add = EventSource.prototype.addEventListener;
  EventSource.prototype.addEventListener = function (type, listener, ...rest) {
    if (type !== "done") return add.call(this, type, listener, ...rest);
    const late = (event) => {
      if (released) return listener.call(this, event);
      this.close();
      held.set(listener, () => listener.call(this, event));
    };
    return add.call(this, type, late, ...rest);
  };
  window.releaseEnd = () => { released = true; held.forEach((run) => run()); held.clear(); };
})();
"""

CITED = "https://search.example.com/rust-borrow-checker/1"


def citation_attributes(link) -> dict:
    return link.evaluate(
        "a => Object.fromEntries(Array.from(a.attributes, (x) => [x.name, x.value]))"
    )


def test_citations_link_to_their_sources_while_streaming_and_once_saved(page, live_server_url):
    page.add_init_script(HOLD_THE_END)
    page.reload()
    page.select_option("#id_model", "glm-4.7")
    page.check("#id_web_search")
    page.fill("#id_count", "2")
    page.select_option("#id_thinking", "disabled")
    send(page, "Rust borrow checker")

    # The simulator cites its first page at the end of its answer: "… [ref_1]".
    streaming = page.locator("#transcript .message.assistant.live .body")
    cite = streaming.locator("sup a")
    expect(cite).to_have_text("[1]")
    expect(streaming).not_to_contain_text("ref_1")
    live = citation_attributes(cite)
    assert live == {
        "href": CITED,
        "title": "Rust borrow checker: result 1",
        "target": "_blank",
        "rel": "noopener noreferrer nofollow",
    }

    page.evaluate("window.releaseEnd()")
    expect(last_reply(page)).to_have_attribute("data-status", "done")
    saved = last_reply(page).locator(".body sup a")
    expect(saved).to_have_text("[1]")
    assert citation_attributes(saved) == live  # the server links it as the page did
    reply = Message.objects.get(role="assistant")
    assert reply.content.endswith("[ref_1]") and reply.sources[0]["refer"] == "ref_1"
    # Numbered as the list of sources under the reply numbers them.
    expect(last_reply(page).locator(".sources li").first.locator("a")).to_have_attribute(
        "href", CITED
    )


LINKS_OF = """(markup) => {
  const box = document.createElement("div");
  box.innerHTML = markup;
  return Array.from(box.querySelectorAll("a"), (a) => [a.parentElement.tagName, a.textContent,
    Object.fromEntries(Array.from(a.attributes, (x) => [x.name, x.value]))]);
}"""


def test_the_page_renders_citations_as_the_server_does(page):
    from playground.rendering import render_markdown

    sources = [
        {"refer": "ref_1", "title": 'A "quoted" <title>', "link": "https://example.com/a?x=1&y=2"},
        {"refer": "ref_2", "title": "Two", "link": "https://example.com/b"},
    ]
    text = "See [ref_2], [ref_1], [ref_7] and `[ref_1]`."
    html = page.evaluate(
        "([text, sources]) => window.replyMarkdown(text, sources)", [text, sources]
    )
    served = str(render_markdown(text, sources))
    assert page.evaluate(LINKS_OF, html) == page.evaluate(LINKS_OF, served)
    assert [link[1] for link in page.evaluate(LINKS_OF, html)] == ["[2]", "[1]"]
    assert "[ref_7]" in html and "<code>[ref_1]</code>" in html


def test_a_reply_stopped_while_thinking_says_no_answer_came(page):
    page.select_option("#id_model", "glm-4.7")
    send(page, "Why is the sky blue? [[fault:latency=400]]")
    live = page.locator("#transcript .message.assistant.live")
    expect(live.locator(".thinking-body")).not_to_be_empty()
    live.locator("button.stop").click()
    stopped = page.locator("#transcript .message.assistant.stopped")
    expect(stopped).to_have_count(1)
    reply = Message.objects.get(role="assistant")
    assert reply.reasoning_content and not reply.content
    expect(stopped.locator(".no-answer")).to_have_text(
        "Stopped before the answer began, while the model was still thinking: there is no answer."
    )
    expect(stopped.locator("details.thinking summary")).to_be_visible()
