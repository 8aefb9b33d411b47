"""An uploaded image is private to whoever uploaded it and the site's staff (who see all spend at
/accounts/site/): not the team it was billed to, whatever their role there."""

import httpx
import pytest

from accounts.models import Membership
from accounts.services.teams import team_create
from playground.models import Attachment, Message
from tests import pictures
from tests.playground.test_streaming import wait_until_final
from tests.support import http_client_for

PHOTO = pictures.png(16, 16)


@pytest.fixture
def upload(alice_http, make_user, django_user_model):
    """alice's image, sent in a turn billed to Lab, which olivia owns and adam administers."""
    lab = team_create(name="Lab", owner=make_user("olivia"))
    alice = django_user_model.objects.get(username="alice")  # alice_http's
    Membership.objects.create(team=lab, user=alice, role="member")
    Membership.objects.create(team=lab, user=make_user("adam"), role="admin")
    Membership.objects.create(team=lab, user=make_user("mia"), role="member")
    alice_http.post("/accounts/team/switch/", data={"team": lab.id})
    sent = alice_http.post(
        "/playground/send/",
        data={"model": "glm-4v-plus", "message": "Look"},
        files=[("image", ("cat.png", PHOTO, "image/png"))],
    )
    assert sent.status_code == 200, sent.text
    wait_until_final(Message.objects.get(role="assistant"))
    attachment = Attachment.objects.get()
    assert attachment.team == lab
    return f"/playground/attachments/{attachment.public_id}/"


def opened_by(user, url: str, live_server_url: str) -> httpx.Response:
    client = http_client_for(user, live_server_url)
    try:
        return client.get(url)
    finally:
        client.close()


def test_an_upload_opens_for_its_owner_and_site_staff_only(
    upload, alice_http, make_user, django_user_model, live_server_url
):
    assert alice_http.get(upload).content == PHOTO
    staff = django_user_model.objects.create_user("root", is_staff=True)
    assert opened_by(staff, upload, live_server_url).content == PHOTO
    for name in ("olivia", "adam", "mia"):  # Lab's owner, admin and member
        user = django_user_model.objects.get(username=name)
        assert opened_by(user, upload, live_server_url).status_code == 404, name
    assert opened_by(make_user("eve"), upload, live_server_url).status_code == 404  # a stranger
    anonymous = httpx.get(f"{live_server_url}{upload}")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous.headers["Location"]
