"""A refused turn in Chromium, at a laptop's width and a phone's: no placeholder left behind, the
reason beside the field it is about (in the settings drawer, opened, on a phone), what was typed
kept; images held to the model's limits before they are uploaded."""

import pytest
from playwright.sync_api import expect

from accounts.models import Team
from playground.models import Conversation, Message
from tests import pictures
from tests.e2e.test_playground_chat import last_reply, send

pytestmark = pytest.mark.e2e

LAPTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


def turn_posts(page) -> list[str]:
    """The turns this page POSTs from now on (by their URL)."""
    posts: list[str] = []
    page.on(
        "request",
        lambda request: (
            posts.append(request.url)
            if request.method == "POST" and request.url.endswith("/playground/send/")
            else None
        ),
    )
    return posts


def no_placeholder_is_left(page) -> None:
    expect(page.locator("#transcript .message.live")).to_have_count(0)
    expect(page.locator("#transcript .message")).to_have_count(0)


def a_real_turn_follows_alone(page) -> None:
    """The next turn that goes through is the only one in the transcript."""
    page.select_option("#id_model", "glm-4-flash")  # free: any team may use it
    page.fill("#id_temperature", "")
    send(page, "Now a real one")
    expect(last_reply(page)).to_have_attribute("data-status", "done")
    expect(page.locator("#transcript .message")).to_have_count(2)
    expect(page.locator("#transcript .message.live")).to_have_count(0)
    expect(page.locator("#form-errors")).to_be_empty()


def prepaid_with_nothing(user) -> None:
    Team.objects.filter(personal_for=user).update(billing="prepaid", cash_nano=0)


def test_a_send_the_team_cannot_pay_for_says_why_and_leaves_nothing_behind(page, user):
    page.set_viewport_size(LAPTOP)
    prepaid_with_nothing(user)
    page.select_option("#id_model", "glm-4")  # priced
    page.fill("#id_message", "Pay for this")
    page.press("#id_message", "Enter")
    expect(page.locator("#form-errors .error")).to_contain_text("cannot cover this call")
    expect(page.locator("#id_message")).to_have_value("Pay for this")
    no_placeholder_is_left(page)
    assert not Message.objects.exists()
    a_real_turn_follows_alone(page)


def test_too_many_replies_at_once_is_said_and_the_last_turn_keeps_its_buttons(page, settings):
    page.set_viewport_size(LAPTOP)
    send(page, "A first turn")
    expect(last_reply(page)).to_have_attribute("data-status", "done")
    settings.MAX_RUNNING_REPLIES_PER_USER = 0
    send(page, "One more")
    expect(page.locator("#form-errors .error")).to_contain_text("replies being written already")
    expect(page.locator("#id_message")).to_have_value("One more")
    expect(page.locator("#transcript .message")).to_have_count(2)
    expect(page.locator("#transcript .message.live")).to_have_count(0)
    # The refused turn never was: the last one can still be edited or regenerated.
    expect(page.locator("#transcript [data-edit-message]")).to_have_count(1)
    expect(page.locator("#transcript [data-regenerate]")).to_have_count(1)


@pytest.mark.parametrize("how", ["click", "enter"])
def test_on_a_phone_a_bad_setting_opens_the_drawer_and_says_why_beside_it(page, sim_log, how):
    page.set_viewport_size(PHONE)
    posts = turn_posts(page)
    page.click("[data-drawer=params]")
    page.fill("#id_temperature", "-0.5")
    # No "sent as" hint for a value that is refused anyway.
    expect(page.locator('[data-sent-as="temperature"]')).to_be_hidden()
    page.click("#params .drawer-close")
    expect(page.locator("#params")).not_to_be_in_viewport()
    page.fill("#id_message", "Keep this text")
    if how == "click":
        page.click("#send")
    else:
        page.press("#id_message", "Enter")

    error = page.locator("#error-temperature")
    expect(error).to_contain_text("temperature must be between 0 and 1")
    expect(error).to_be_in_viewport()  # the drawer that holds it is open
    expect(page.locator("#id_temperature")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_temperature")).to_be_focused()
    expect(page.locator("#form-errors")).not_to_contain_text("temperature")
    expect(page.locator("#id_message")).to_have_value("Keep this text")
    no_placeholder_is_left(page)
    assert len(posts) == 1 and sim_log.calls() == []
    assert not Conversation.objects.exists()

    # Put right, the mark goes, and the turn goes through alone.
    page.fill("#id_temperature", "0")
    expect(page.locator("#id_temperature")).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator('[data-sent-as="temperature"]')).to_contain_text("Sent as 0.01")
    page.click("#params .drawer-close")
    page.click("#send")
    expect(last_reply(page)).to_have_attribute("data-status", "done")
    expect(page.locator("#transcript .message")).to_have_count(2)
    expect(error).to_be_hidden()


def test_field_errors_go_beside_their_fields_and_turn_errors_in_the_box(page, user):
    page.set_viewport_size(LAPTOP)
    page.select_option("#id_model", "glm-4.7")
    page.fill("#id_max_tokens", "999999")
    page.fill("#id_tools", "[not json")
    page.fill("#id_message", "Hello")
    page.press("#id_message", "Enter")
    no_placeholder_is_left(page)
    for name, words in [("max_tokens", "max_tokens"), ("tools", "tools is not JSON")]:
        expect(page.locator(f"#error-{name}")).to_contain_text(words)
        expect(page.locator(f"#id_{name}")).to_have_attribute("aria-invalid", "true")
        described = page.locator(f"#id_{name}").get_attribute("aria-describedby") or ""
        assert f"error-{name}" in described.split()
    expect(page.locator("#form-errors")).to_be_empty()
    expect(page.locator("#id_max_tokens")).to_be_focused()  # the first one, to put it right

    # An error of the whole turn goes in the box, and the fields' old errors go.
    page.fill("#id_max_tokens", "")
    page.fill("#id_tools", "")
    prepaid_with_nothing(user)
    send(page, "Hello")
    expect(page.locator("#form-errors .error")).to_contain_text("cannot cover this call")
    expect(page.locator("#error-max_tokens")).to_be_hidden()
    expect(page.locator("#id_max_tokens")).not_to_have_attribute("aria-invalid", "true")


def test_the_temperature_hint_never_contradicts_the_refusal(page):
    page.set_viewport_size(LAPTOP)
    page.select_option("#id_model", "glm-4")
    hint = page.locator('[data-sent-as="temperature"]')
    page.fill("#id_temperature", "-0.5")
    expect(hint).to_be_hidden()
    page.fill("#id_temperature", "1.5")
    expect(hint).to_be_hidden()
    page.fill("#id_temperature", "0")
    expect(hint).to_have_text(
        "Sent as 0.01 with do_sample=false (greedy), as the official SDKs do."
    )
    page.fill("#id_temperature", "1")
    expect(hint).to_have_text("Sent as 0.99, as the official SDKs do.")


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_an_image_too_large_is_refused_before_it_is_uploaded(page, tmp_path, viewport):
    page.set_viewport_size(viewport)
    posts = turn_posts(page)
    page.select_option("#id_model", "glm-4v-plus")
    big = tmp_path / "big.jpg"
    big.write_bytes(pictures.oversized_jpeg(20 * 1024 * 1024))
    page.set_input_files("#id_image", str(big))
    expect(page.locator("#previews img")).to_have_count(1)
    send(page, "What is this?")
    error = page.locator("#error-image")
    expect(error).to_have_text("“big.jpg” is 20 MB; images may be at most 5 MB.")
    expect(error).to_be_in_viewport()
    expect(page.locator("#id_message")).to_have_value("What is this?")
    expect(page.locator("#previews img")).to_have_count(1)  # kept, to remove or replace
    no_placeholder_is_left(page)
    assert posts == []  # nothing was uploaded


def test_more_images_than_the_model_takes_are_refused_before_they_are_uploaded(page, tmp_path):
    page.set_viewport_size(LAPTOP)
    posts = turn_posts(page)
    page.select_option("#id_model", "glm-4v")  # one image per request
    paths = []
    for n in range(2):
        paths.append(tmp_path / f"p{n}.png")
        paths[-1].write_bytes(pictures.png())
    page.set_input_files("#id_image", [str(path) for path in paths])
    expect(page.locator("#previews img")).to_have_count(2)
    send(page, "Compare them")
    expect(page.locator("#error-image")).to_have_text(
        "GLM-4V takes one image per request (this one would carry 2)."
    )
    expect(page.locator("#id_message")).to_have_value("Compare them")
    no_placeholder_is_left(page)
    assert posts == []


def test_a_second_new_conversation_in_the_same_page_logs_no_error(page, live_server_url):
    """The context's check that the console stayed clean is the test."""
    page.set_viewport_size(LAPTOP)
    send(page, "The first conversation")
    expect(last_reply(page)).to_have_attribute("data-status", "done")
    expect(page.locator("#no-conversations")).to_be_hidden()
    page.click("#sidebar .new-chat")
    page.wait_for_url(f"{live_server_url}/playground/")
    send(page, "The second conversation")
    expect(last_reply(page)).to_have_attribute("data-status", "done")
    expect(page.locator("#conversation-list li a")).to_have_count(2)
    expect(page.locator("#no-conversations")).to_be_hidden()
