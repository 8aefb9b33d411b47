"""Users see only their own conversations; everything else is a 404."""

import pytest
from django.test import Client

from playground.models import Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_conversation(django_user_model):
    alice = django_user_model.objects.create_user("alice", password="alice-password-1")
    conversation = Conversation.objects.create(
        user=alice, model="glm-4-flash", title="Alice's secrets"
    )
    Message.objects.create(conversation=conversation, role="user", content="my secret plan")
    reply = Message.objects.create(
        conversation=conversation,
        role="assistant",
        status="done",
        content="noted",
        model="glm-4-flash",
        request_id="r1",
    )
    return conversation, reply


@pytest.fixture
def bob(django_user_model, catalogue):
    bob = django_user_model.objects.create_user("bob", password="bob-password-1")
    client = Client()
    client.force_login(bob)
    return client


def test_another_users_conversation_is_404_everywhere(alice_conversation, bob):
    conversation, reply = alice_conversation
    public_id = conversation.public_id
    assert bob.get(f"/playground/c/{public_id}/").status_code == 404
    assert bob.get(f"/playground/r/{reply.public_id}/stream/").status_code == 404
    assert bob.post(f"/playground/r/{reply.public_id}/stop/").status_code == 404
    params = {"model": "glm-4-flash", "message": "x"}
    assert bob.post(f"/playground/c/{public_id}/regenerate/", params).status_code == 404
    assert bob.post(f"/playground/c/{public_id}/edit/", params).status_code == 404
    assert bob.post(f"/playground/c/{public_id}/rename/", {"title": "mine"}).status_code == 404
    assert bob.post(f"/playground/c/{public_id}/delete/").status_code == 404
    # Sending into it is refused too, and nothing of Alice's changed.
    assert bob.post("/playground/send/", {**params, "conversation": public_id}).status_code == 404
    conversation.refresh_from_db()
    assert conversation.title == "Alice's secrets" and conversation.messages.count() == 2
    # The sidebar lists only one's own.
    page = bob.get("/playground/")
    assert b"Alice's secrets" not in page.content


def test_pages_need_a_login(client):
    response = client.get("/playground/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert client.get("/").status_code == 302


def test_an_expired_session_on_an_htmx_request_sends_the_whole_page_to_login(client):
    response = client.post("/playground/send/", {"message": "hi"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/accounts/login/")


def test_rename_and_delete_ones_own_conversation(alice_conversation, client):
    conversation, _ = alice_conversation
    client.force_login(conversation.user)
    response = client.post(
        f"/playground/c/{conversation.public_id}/rename/", {"title": "  Plans  for   May "}
    )
    assert response.status_code == 200 and b"Plans for May" in response.content
    conversation.refresh_from_db()
    assert conversation.title == "Plans for May"
    response = client.post(
        f"/playground/c/{conversation.public_id}/delete/", headers={"HX-Request": "true"}
    )
    assert response["HX-Redirect"] == "/playground/"
    assert not Conversation.objects.filter(id=conversation.id).exists()
    assert not Message.objects.exists()


def test_the_upstream_key_never_reaches_a_page(client, django_user_model, settings, catalogue):
    settings.ZHIPUAI_API_KEY = "live-key-id.live-key-secret"
    settings.UPSTREAM_MODE = "bigmodel"
    user = django_user_model.objects.create_user("carol", password="carol-password-1")
    client.force_login(user)
    for url in ("/playground/", "/healthz"):
        body = client.get(url).content
        assert b"live-key-secret" not in body and b"live-key-id" not in body
    page = client.get("/playground/").content
    assert b"BigModel API" in page and b"Offline simulator" not in page


def test_the_sidebar_says_which_team_paid_for_each_conversation(
    client, django_user_model, catalogue
):
    from accounts.models import Team
    from playground.models import Conversation, Message

    alice = django_user_model.objects.create_user("alice")
    lab = Team.objects.create(name="Lab", billing="postpaid")
    for title, team in (("Mine", alice.personal_team), ("For the lab", lab)):
        conversation = Conversation.objects.create(user=alice, title=title, model="glm-4")
        Message.objects.create(
            conversation=conversation,
            role="assistant",
            status="done",
            team=team,
            request_id=f"r-{title}",
        )
    client.force_login(alice)
    sidebar = (
        client.get("/playground/")
        .content.decode()
        .split('class="conversations"')[1]
        .split("</ul>")[0]
    )
    assert f'data-team="{lab.id}"' in sidebar and '<span class="billed">Lab</span>' in sidebar
    assert '<span class="billed">Personal</span>' in sidebar


def test_a_queued_image_counts_its_wait_in_seconds():
    from datetime import timedelta

    from django.utils import timezone

    from playground.templatetags.playground import elapsed

    assert elapsed(timezone.now() - timedelta(seconds=7)) == "7 s"
    assert elapsed(timezone.now() - timedelta(seconds=125)) == "2 min 5 s"
