"""What the playground's pages say, as the server renders them: a refusal's reasons where they
belong, a reply stopped before its answer said so, an image link named without a glyph a font
may lack, a search's citations linked to its sources."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.template.loader import render_to_string

from playground.forms import TurnForm
from playground.models import Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(catalogue):
    return get_user_model().objects.create_user("alice", password="alice-password-1")


@pytest.fixture
def browser(client, alice):
    client.force_login(alice)
    return client


def conversation_of(user, *messages: dict) -> Conversation:
    conversation = Conversation.objects.create(user=user, title="Rivers", model="glm-4.7")
    for fields in messages:
        Message.objects.create(conversation=conversation, **fields)
    return conversation


def slot(html: str, name: str) -> str:
    """The element beside field ``name`` that says why it was refused."""
    found = re.search(rf'<p class="field-error" id="error-{name}"[^>]*>.*?</p>', html, re.S)
    assert found, name
    return found.group(0)


def test_every_field_of_a_turn_has_a_place_beside_it_for_its_reason(browser):
    page = browser.get("/playground/").content.decode()
    for field in TurnForm().visible_fields():
        assert " hidden>" in slot(page, field.name), field.name  # empty until refused
        control = re.search(rf'<(?:input|select|textarea)[^>]*name="{field.name}"[^>]*>', page)
        assert control and f'aria-describedby="error-{field.name}"' in control.group(0)


def test_a_refusal_says_each_field_s_reason_beside_it_and_the_turn_s_in_the_box(browser):
    data = {"model": "glm-4.7", "message": "Hi", "max_tokens": "999999", "tools": "[nope"}
    response = browser.post("/playground/send/", data=data, headers={"HX-Request": "true"})
    assert response["HX-Retarget"] == "#form-errors"
    html = response.content.decode()
    box = html[: html.index('<p class="field-error"')]  # what the box itself gets
    assert "max_tokens" not in box and "tools" not in box
    assert "max_tokens can be at most 128000" in slot(html, "max_tokens")
    assert "tools is not JSON" in slot(html, "tools")
    assert 'hx-swap-oob="true"' in slot(html, "tools")
    # Every other field's place is sent empty, so an old reason goes.
    assert 'hx-swap-oob="true" hidden></p>' in slot(html, "temperature")

    refused = browser.post(
        "/playground/send/",
        data={"model": "glm-4.7", "message": "Hi", "conversation": "not-a-uuid"},
        headers={"HX-Request": "true"},
    ).content.decode()
    box = refused[: refused.index('<p class="field-error"')]
    assert 'role="alert"' in box and "conversation: " in box  # a hidden field's, named


def test_a_reply_stopped_before_its_answer_says_so(browser, alice):
    thought = {"role": "assistant", "status": "stopped", "model": "glm-4.7"}
    conversation = conversation_of(
        alice,
        {"role": "user", "content": "Why?"},
        {**thought, "reasoning_content": "The user asks why. Let me"},
    )
    page = browser.get(conversation.get_absolute_url()).content.decode()
    assert (
        "Stopped before the answer began, while the model was still thinking: there is no answer."
        in page
    )
    Message.objects.filter(role="assistant").update(reasoning_content="")
    page = browser.get(conversation.get_absolute_url()).content.decode()
    assert "Stopped before the answer began: there is no answer." in page
    Message.objects.filter(role="assistant").update(content="Because")
    assert "before the answer began" not in browser.get(conversation.get_absolute_url()).text


def test_an_image_link_is_shown_with_a_drawn_icon_not_a_glyph(browser, alice):
    conversation = conversation_of(
        alice,
        {"role": "user", "content": "Look", "image_urls": ["https://example.com/a.png"]},
    )
    page = browser.get(conversation.get_absolute_url()).content.decode()
    link = re.search(r'<ul class="image-links".*?</ul>', page, re.S).group(0)
    assert "🖼" not in page
    assert '<svg class="icon"' in link and 'aria-hidden="true"' in link
    assert "https://example.com/a.png</a>" in link


def test_a_saved_reply_s_citations_link_to_its_sources(browser, alice):
    sources = [
        {"refer": "ref_1", "title": "Rivers: result 1", "link": "https://search.example.com/1"},
        {"refer": "ref_2", "title": "Rivers: result 2", "link": "https://search.example.com/2"},
    ]
    reply = {"role": "assistant", "status": "done", "model": "glm-4.7", "sources": sources}
    conversation = conversation_of(
        alice,
        {"role": "user", "content": "Rivers"},
        {**reply, "content": "They flow downhill [ref_2]."},
    )
    page = browser.get(conversation.get_absolute_url()).content.decode()
    cite = re.search(r"<sup><a [^>]*>\[2\]</a></sup>", page).group(0)
    for attribute in (
        'href="https://search.example.com/2"',
        'title="Rivers: result 2"',
        'target="_blank"',
        'rel="noopener noreferrer nofollow"',
    ):
        assert attribute in cite
    assert "[ref_2]" not in page


def test_no_conversations_yet_is_always_in_the_list_and_no_turn_removes_it(browser, alice):
    page = browser.get("/playground/").content.decode()
    assert '<li class="muted" id="no-conversations">No conversations yet.</li>' in page
    turn = render_to_string(
        "playground/_turn.html",
        {"conversation": conversation_of(alice), "new_messages": [], "is_new": True},
    )
    assert "afterbegin:#conversation-list" in turn
    assert "no-conversations" not in turn  # nothing that a later new conversation would miss
    page = browser.get("/playground/").content.decode()
    assert 'id="no-conversations"' in page  # the style sheet hides it beside a conversation
