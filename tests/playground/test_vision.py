"""GLM-4V turns over real HTTP: uploads checked before any upstream call, sent as bare base64,
carried in the history, kept private, and billed through the usage records."""

import base64
import os
from pathlib import Path

import httpx
import pytest

from accounts.models import UsageRecord
from playground.models import Attachment, Message
from tests import pictures
from tests.playground.test_streaming import read_events
from tests.support import http_client_for, owner_of


def chat_requests(upstream) -> list[dict]:
    return httpx.get(f"{upstream.url}/_sim/requests", params={"path": "/chat/completions"}).json()[
        "requests"
    ]


def send(client, text, *, model="glm-4v-plus", images=(), conversation=""):
    files = [("image", (name, data, "application/octet-stream")) for name, data in images]
    return client.post(
        "/playground/send/",
        data={"model": model, "message": text, "conversation": conversation},
        files=files or None,
    )


def finish(client, reply_id: int) -> Message:
    public_id = Message.objects.get(id=reply_id).public_id
    with client.stream("GET", f"/playground/r/{public_id}/stream/") as response:
        read_events(response)
    return Message.objects.get(id=reply_id)


def latest_reply() -> Message:
    return Message.objects.filter(role="assistant").latest("id")


def test_an_image_turn_sends_the_uploaded_bytes_and_a_follow_up_carries_them(alice_http, upstream):
    photo = pictures.jpeg(320, 240)
    response = send(alice_http, "What is in this picture?", images=[("cat.jpg", photo)])
    assert response.status_code == 200 and "HX-Retarget" not in response.headers
    reply = finish(alice_http, latest_reply().id)
    assert reply.status == "done" and reply.usage_exact and reply.prompt_tokens > 1000

    first = chat_requests(upstream)[-1]["body"]
    parts = first["messages"][-1]["content"]
    assert parts[0] == {"type": "text", "text": "What is in this picture?"}
    assert (
        base64.b64decode(parts[1]["image_url"]["url"], validate=True) == photo
    )  # bare base64, no data: prefix

    conversation = reply.conversation
    send(alice_http, "And what colour is it?", conversation=str(conversation.public_id))
    follow_up = finish(alice_http, latest_reply().id)
    assert follow_up.status == "done"
    second = chat_requests(upstream)[-1]["body"]["messages"]
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    assert base64.b64decode(second[0]["content"][1]["image_url"]["url"]) == photo
    assert second[2]["content"] == "And what colour is it?"

    attachment = Attachment.objects.get()
    assert (attachment.name, attachment.width, attachment.height, attachment.content_type) == (
        "cat.jpg",
        320,
        240,
        "image/jpeg",
    )
    page = alice_http.get(conversation.get_absolute_url()).text
    assert (
        attachment.get_absolute_url() in page
    )  # the transcript's thumbnail links to the full image

    records = UsageRecord.objects.order_by("id")
    assert [(r.request_id, r.prompt_tokens, r.completion_tokens, r.exact) for r in records] == [
        (m.request_id, m.prompt_tokens, m.completion_tokens, True) for m in (reply, follow_up)
    ]


@pytest.mark.parametrize(
    "name, data, words",
    [
        ("big.jpg", pictures.oversized_jpeg(), "is 6 MB; images may be at most 5 MB"),
        ("broken.png", pictures.truncated_png(), "could not be read as JPEG or PNG"),
        ("anim.gif", pictures.gif(), "is a GIF file; send JPEG or PNG"),
        ("huge.png", pictures.huge_png(7000), "is 7000×7000 pixels; the limit is 6000×6000"),
    ],
)
def test_a_bad_image_is_refused_with_its_limit_and_no_upstream_call(
    alice_http, upstream, name, data, words
):
    before = len(chat_requests(upstream))
    response = send(alice_http, "Describe this", images=[(name, data)])
    assert (
        response.headers["HX-Retarget"] == "#form-errors"
    )  # only the error area changes: the box keeps its text
    assert words in response.text and name in response.text
    assert len(chat_requests(upstream)) == before
    assert not Message.objects.exists() and not Attachment.objects.exists()


@pytest.mark.parametrize(
    "model, images, words",
    [
        ("glm-4-flash", 1, "does not read images"),
        ("glm-4v-flash", 1, "takes images only as web links"),
        ("glm-4v", 2, "takes one image per request (this one would carry 2)"),
        ("glm-4v-plus", 6, "takes up to 5 images per request (this one would carry 6)"),
    ],
)
def test_models_refuse_uploads_they_cannot_take(alice_http, upstream, model, images, words):
    before = len(chat_requests(upstream))
    response = send(
        alice_http,
        "Look",
        model=model,
        images=[(f"p{i}.png", pictures.png()) for i in range(images)],
    )
    assert words in response.text
    assert len(chat_requests(upstream)) == before


def test_a_second_image_for_glm_4v_in_the_same_conversation_is_refused(alice_http, upstream):
    send(alice_http, "First", model="glm-4v", images=[("a.png", pictures.png())])
    reply = finish(alice_http, latest_reply().id)
    before = len(chat_requests(upstream))
    response = send(
        alice_http,
        "Second",
        model="glm-4v",
        images=[("b.png", pictures.png())],
        conversation=str(reply.conversation.public_id),
    )
    assert "already carries 1; start a new one" in response.text
    assert len(chat_requests(upstream)) == before


def test_uploads_are_private_to_their_owner_and_site_admins(alice_http, make_user, live_server_url):
    photo = pictures.png(40, 30)
    send(alice_http, "Mine", images=[("mine.png", photo)])
    finish(alice_http, latest_reply().id)
    url = Attachment.objects.get().get_absolute_url()

    own = alice_http.get(url)
    assert (
        own.status_code == 200
        and own.content == photo
        and own.headers["content-type"] == "image/png"
    )
    assert (
        alice_http.get(url, params={"download": 1}).headers["content-disposition"]
        == 'attachment; filename="mine.png"'
    )

    bob = http_client_for(make_user("bob"), live_server_url)
    assert bob.get(url).status_code == 404
    from accounts.models import Team
    from accounts.services.teams import member_add

    team = Team.objects.get(personal_for__username="alice")
    member_add(team=team, user=make_user("carol"), role="admin", by=owner_of(team))
    member_add(team=team, user=make_user("dave"), role="member", by=owner_of(team))
    assert (
        http_client_for(team.members.get(username="carol"), live_server_url).get(url).status_code
        == 404
    )  # not the team's admins either
    assert (
        http_client_for(team.members.get(username="dave"), live_server_url).get(url).status_code
        == 404
    )
    admin = make_user("root")
    admin.is_staff = True
    admin.save()
    assert http_client_for(admin, live_server_url).get(url).content == photo


def test_deleting_a_conversation_deletes_its_uploaded_files(alice_http):
    send(alice_http, "Temporary", images=[("t.png", pictures.png())])
    reply = finish(alice_http, latest_reply().id)
    stored = Attachment.objects.get().file.path
    alice_http.post(f"/playground/c/{reply.conversation.public_id}/delete/")
    assert not Attachment.objects.exists()
    assert not os.path.exists(stored)


def test_a_stored_upload_takes_its_suffix_from_what_it_is_not_its_name(alice_http):
    send(
        alice_http,
        "Look",
        images=[("holiday.exe", pictures.png(20, 20)), ("scan.PHP", pictures.jpeg(20, 20))],
    )
    stored = [Path(attachment.file.name).suffix for attachment in Attachment.objects.order_by("id")]
    assert stored == [".png", ".jpg"]
    assert [attachment.name for attachment in Attachment.objects.order_by("id")] == [
        "holiday.exe",
        "scan.PHP",
    ]


def send_links(client, text, links, *, model="glm-4v-flash", conversation=""):
    return client.post(
        "/playground/send/",
        data={
            "model": model,
            "message": text,
            "conversation": conversation,
            "image_urls": "\n".join(links),
        },
    )


def test_a_model_that_takes_links_is_sent_the_link_and_a_follow_up_carries_it(alice_http, upstream):
    link = "https://93.184.216.34/cat.jpg"  # an address on the public internet (no lookup needed)
    response = send_links(alice_http, "What is this?", [link])
    assert response.status_code == 200 and "HX-Retarget" not in response.headers
    reply = finish(alice_http, latest_reply().id)
    assert reply.status == "done"
    parts = chat_requests(upstream)[-1]["body"]["messages"][-1]["content"]
    assert parts == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": link}},
    ]
    send_links(alice_http, "And the colour?", [], conversation=str(reply.conversation.public_id))
    finish(alice_http, latest_reply().id)
    first = chat_requests(upstream)[-1]["body"]["messages"][0]["content"]
    assert first[1] == {"type": "image_url", "image_url": {"url": link}}
    assert (
        "</svg> https://93.184.216.34/cat.jpg</a>"
        in alice_http.get(reply.conversation.get_absolute_url()).text
    )


@pytest.mark.parametrize(
    "link, words",
    [
        ("http://127.0.0.1:8000/secret.png", "not on the public internet"),
        ("https://10.0.0.7/a.png", "not on the public internet"),
        ("https://169.254.169.254/latest/meta-data/", "not on the public internet"),
        ("ftp://93.184.216.34/a.png", "starts with https:// or http:// (not ftp://)."),
    ],
)
def test_a_link_inside_or_not_http_is_refused_before_anything_is_sent(
    alice_http, sim_log, link, words
):
    response = send_links(alice_http, "Look", [link])
    assert response.headers["HX-Retarget"] == "#form-errors" and words in response.text
    assert sim_log.calls() == [] and not Message.objects.exists()


def test_links_count_with_uploads_against_the_models_limit(alice_http, sim_log):
    response = alice_http.post(
        "/playground/send/",
        data={"model": "glm-4v", "message": "Both?", "image_urls": "https://93.184.216.34/b.jpg"},
        files=[("image", ("a.png", pictures.png(), "image/png"))],
    )
    assert (
        "one image per request (this one would carry 2)" in response.text and sim_log.calls() == []
    )


def test_the_history_for_a_model_that_reads_no_images_does_not_read_the_uploads(django_user_model):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from playground.models import Conversation
    from playground.selectors import history_for

    user = django_user_model.objects.create_user("reader")
    conversation = Conversation.objects.create(user=user, model="glm-4-flash")
    Message.objects.create(conversation=conversation, role=Message.Role.USER, content="Hello")
    for with_images in (False, True):
        with CaptureQueriesContext(connection) as queries:
            history = history_for(conversation=conversation, with_images=with_images)
        assert history == [{"role": "user", "content": "Hello"}]
        read = " ".join(query["sql"] for query in queries.captured_queries)
        assert ("playground_attachment" in read) is with_images
