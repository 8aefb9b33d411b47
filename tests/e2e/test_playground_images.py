"""Images in Chromium: a GLM-4V turn with an attached image and its follow-up, refusals that keep
what was typed, and CogView generations that stay after the upstream link expires."""

import base64

import httpx
import pytest
from playwright.sync_api import expect

from playground.models import Attachment, ImageGeneration
from tests import pictures
from tests.e2e.test_playground_chat import (
    chat_requests,
    hold_the_post,
    last_reply,
    send,
)
from tests.support import wait_until

pytestmark = pytest.mark.e2e


def attach(page, tmp_path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    page.set_input_files("#id_image", str(path))


def test_ask_about_an_attached_image_then_follow_up(page, upstream, tmp_path):
    photo = pictures.jpeg(300, 200)
    page.select_option("#id_model", "glm-4v-plus")
    expect(page.locator("#attach")).to_be_visible()
    attach(page, tmp_path, "street.jpg", photo)
    expect(page.locator("#previews img")).to_have_count(1)
    send(page, "What is in this photo? [[fault:latency=20]]")

    expect(
        page.locator("#transcript .message.assistant.live .body")
    ).not_to_be_empty()  # it streams
    expect(last_reply(page)).to_have_attribute("data-status", "done")
    expect(page.locator("#previews img")).to_have_count(0)  # sent: the composer is empty again
    thumb = page.locator("#transcript .message.user .thumbs a")
    expect(thumb).to_have_count(1)
    attachment = Attachment.objects.get()
    assert thumb.get_attribute("href") == attachment.get_absolute_url()
    assert page.locator("#transcript .thumbs img").evaluate("img => img.naturalWidth") == 300

    sent = wait_until(lambda: chat_requests(upstream))[-1]
    assert base64.b64decode(sent["messages"][0]["content"][1]["image_url"]["url"]) == photo

    send(page, "And what colour is the sky?")
    expect(page.locator("#transcript .message.assistant")).to_have_count(2)
    expect(last_reply(page)).to_have_attribute("data-status", "done")
    follow_up = chat_requests(upstream)[-1]["messages"]
    assert base64.b64decode(follow_up[0]["content"][1]["image_url"]["url"]) == photo
    assert follow_up[-1] == {"role": "user", "content": "And what colour is the sky?"}

    with page.expect_popup() as opened:  # a click on the thumbnail opens the full image
        thumb.click()
    assert opened.value.evaluate("document.images[0].naturalWidth") == 300


@pytest.mark.parametrize(
    "name, data, words",
    [
        ("big.jpg", pictures.oversized_jpeg(), "images may be at most 5 MB"),
        ("broken.png", pictures.truncated_png(), "the file may be damaged"),
        ("anim.gif", pictures.gif(), "is a GIF file"),
        ("huge.png", pictures.huge_png(7000), "the limit is 6000×6000"),
    ],
)
def test_a_bad_image_is_refused_and_the_typed_message_stays(
    page, upstream, tmp_path, name, data, words
):
    before = len(chat_requests(upstream))
    page.select_option("#id_model", "glm-4v-plus")
    page.fill("#id_message", "Please describe it")
    # The page's own picker only takes image types; the checks must hold for whatever arrives.
    page.evaluate(
        """([name, b64]) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const files = new DataTransfer();
        files.items.add(new File([bytes], name, {type: "image/png"}));
        document.getElementById("id_image").files = files.files;
    }""",
        [name, base64.b64encode(data).decode()],
    )
    page.click("#send")
    expect(page.locator("#error-image")).to_contain_text(words)
    expect(page.locator("#id_message")).to_have_value("Please describe it")
    assert page.locator("#transcript .message").count() == 0
    assert len(chat_requests(upstream)) == before


def test_switching_to_a_text_model_asks_before_dropping_the_image(page, tmp_path):
    page.select_option("#id_model", "glm-4v-plus")
    attach(page, tmp_path, "a.png", pictures.png())
    expect(page.locator("#previews img")).to_have_count(1)

    page.once("dialog", lambda dialog: dialog.dismiss())
    page.select_option("#id_model", "glm-4-flash")
    expect(page.locator("#id_model")).to_have_value(
        "glm-4v-plus"
    )  # cancelled: model and image kept
    expect(page.locator("#previews img")).to_have_count(1)

    messages = []
    page.once("dialog", lambda dialog: (messages.append(dialog.message), dialog.accept()))
    page.select_option("#id_model", "glm-4-flash")
    expect(page.locator("#previews img")).to_have_count(0)
    expect(page.locator("#attach")).to_be_hidden()
    assert "does not read images" in messages[0]


def test_generate_an_image_that_outlives_the_upstream_link(
    page, live_server_url, upstream, celery_worker
):
    page.goto(f"{live_server_url}/playground/images/")
    page.select_option("#id_image_model", "cogview-3-plus")
    page.select_option("#id_size", "1344x768")
    page.fill("#id_prompt", "A quiet harbour at dawn")
    page.click("#generate")

    card = page.locator("#gallery .image-card").first
    expect(card).to_have_attribute(
        "data-status", "done", timeout=30000
    )  # no reload: the card updates
    expect(page.locator("#id_prompt")).to_have_value(
        "A quiet harbour at dawn"
    )  # kept, to try variations
    generation = ImageGeneration.objects.get()
    assert (generation.size, generation.width, generation.height) == ("1344x768", 1344, 768)
    src = card.locator("img").get_attribute("src")
    assert src == f"/playground/images/{generation.public_id}/file/"

    httpx.post(f"{upstream.url}/_sim/expire-files")
    page.reload()
    image = page.locator("#gallery .image-card img").first
    expect(image).to_be_visible()
    wait_until(lambda: image.evaluate("img => img.complete && img.naturalWidth"))
    assert image.evaluate("img => img.naturalWidth") == 1344


def test_sizes_follow_the_model(page, live_server_url):
    page.goto(f"{live_server_url}/playground/images/")
    page.select_option("#id_image_model", "cogview-3")
    expect(page.locator("#size-field")).to_be_hidden()
    page.select_option("#id_image_model", "cogview-3-plus")
    expect(page.locator("#size-field")).to_be_visible()
    expect(page.locator("#id_size")).to_have_value("1024x1024")
    assert page.locator("#id_size option").count() == 7


def test_a_failed_image_turn_gives_back_its_text_and_its_image(page, tmp_path):
    hold_the_post(page)  # the reply fails before the page hears its turn was saved
    page.select_option("#id_model", "glm-4v-plus")
    attach(page, tmp_path, "cat.png", pictures.png(40, 30))
    send(page, "Is this safe? [[fault:1301]]")
    expect(last_reply(page)).to_have_attribute("data-status", "failed")
    expect(page.locator("#transcript .message.user")).to_have_count(1)  # the POST's answer too
    expect(page.locator("#id_message")).to_have_value("Is this safe? [[fault:1301]]")
    expect(page.locator("#previews img")).to_have_count(1)
    assert page.locator("#id_image").evaluate("input => input.files.length") == 1
