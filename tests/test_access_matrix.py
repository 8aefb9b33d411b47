"""Every object URL, asked by everyone who is not its owner: another user, a plain member of the
owner's team, an admin of it, and a site admin (who is in none of its teams)."""

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.utils import timezone

from accounts.models import AlertChannel, AlertRule, Membership
from accounts.services.keys import key_create
from playground.models import Attachment, ImageGeneration, Message
from tests import pictures
from tests.playground.test_streaming import wait_until_final
from tests.support import http_client_for

ACTORS = ("owner", "other", "member", "admin", "staff")


@pytest.fixture
def world(alice_http, live_server_url):
    """alice's conversation (with an uploaded image), her image generation, and her team's member row,
    alert rule and channel; and a client for each actor, on alice's team where they are in it."""
    User = get_user_model()
    alice = User.objects.get(username="alice")
    team = alice.personal_team
    response = alice_http.post(
        "/playground/send/",
        data={"model": "glm-4v-plus", "message": "Look"},
        files=[("image", ("cat.png", pictures.png(16, 16), "image/png"))],
    )
    assert response.status_code == 200
    reply = wait_until_final(Message.objects.get(role="assistant"))
    generation = ImageGeneration.objects.create(
        user=alice,
        team=team,
        model="cogview-3",
        prompt="A cat",
        request_id="gen-1",
        status="done",
        finished_at=timezone.now(),
    )
    generation.file.save("image.png", ContentFile(pictures.png(8, 8)))
    people = {
        "other": User.objects.create_user("eve"),
        "member": User.objects.create_user("bob"),
        "admin": User.objects.create_user("carol"),
        "staff": User.objects.create_user("root", is_staff=True),
    }
    Membership.objects.create(team=team, user=people["member"], role="member")
    Membership.objects.create(team=team, user=people["admin"], role="admin")
    clients = {"owner": alice_http}
    for role, user in people.items():
        clients[role] = http_client_for(user, live_server_url)
        if role in ("member", "admin"):
            clients[role].post("/accounts/team/switch/", data={"team": team.id})
    objects = {
        "conversation": reply.conversation.public_id,
        "message": reply.id,
        "reply": reply.public_id,
        "attachment": Attachment.objects.get().public_id,
        "image": generation.public_id,
        "month": timezone.localdate().strftime("%Y-%m"),
    }
    # Rows an admin may change or remove: made anew for each actor, so one's success cannot hide
    # what the next would meet.
    fresh = {
        "member_row": lambda: (
            Membership.objects.get_or_create(team=team, user=people["member"])[0].id
        ),
        "rule": lambda: AlertRule.objects.get_or_create(team=team, threshold_nano=10**9)[0].id,
        "api_key": lambda: key_create(user=alice, team=team, name="scripts")[0].id,
        "channel": lambda: (
            AlertChannel.objects.get_or_create(team=team, kind="email", target="ops@x.example")[
                0
            ].id
        ),
    }
    yield clients, objects, fresh
    for role in people:
        clients[role].close()


def status(client, method: str, url: str, data=None) -> int:
    if method == "STREAM":
        with client.stream("GET", url) as response:
            return response.status_code
    return client.request(method, url, data=data).status_code


# fmt: off
# (The clients are htmx's: a member's row comes back as a 200 with the row.)
#         method    url                                                  form           owner other member admin staff
MATRIX = [
    ("GET",    "/playground/c/{conversation}/",                      None,            (200, 404, 404, 404, 404)),
    ("POST",   "/playground/c/{conversation}/rename/",               {"title": "x"},  (200, 404, 404, 404, 404)),
    ("POST",   "/playground/c/{conversation}/results/",              {"model": "glm-4"}, (200, 404, 404, 404, 404)),
    ("POST",   "/playground/code/", {"model": "glm-4", "conversation": "{conversation}"}, (200, 404, 404, 404, 404)),
    ("STREAM", "/playground/r/{reply}/stream/",                      None,            (200, 404, 404, 404, 404)),
    ("STREAM", "/playground/m/{message}/cost/",                      None,            (200, 404, 404, 404, 404)),
    ("POST",   "/playground/r/{reply}/stop/",                        None,            (204, 404, 404, 404, 404)),
    ("GET",    "/playground/attachments/{attachment}/",              None,            (200, 404, 404, 404, 200)),
    ("GET",    "/playground/images/{image}/",                        None,            (200, 404, 404, 200, 200)),
    ("GET",    "/playground/images/{image}/file/",                   None,            (200, 404, 404, 200, 200)),
    ("POST",   "/playground/images/{image}/again/",                  None,            (200, 404, 404, 404, 404)),
    ("POST",   "/accounts/team/members/{member_row}/", {"role": "member", "cap": ""}, (200, 404, 403, 200, 404)),
    ("POST",   "/accounts/alerts/channels/{channel}/test/",          None,            (302, 404, 403, 302, 404)),
    ("POST",   "/accounts/keys/{api_key}/revoke/",                   None,            (302, 404, 404, 302, 404)),
    ("POST",   "/accounts/keys/{api_key}/rotate/",                   {"grace": "1h"}, (200, 404, 404, 404, 404)),
    ("POST",   "/accounts/alerts/rules/{rule}/delete/",              None,            (302, 404, 403, 302, 404)),
    ("GET",    "/accounts/bills/{month}/",                           None,            (200, 200, 200, 200, 200)),
    ("GET",    "/accounts/summary.json",                             None,            (200, 200, 200, 200, 200)),
    ("POST",   "/playground/images/{image}/delete/",                 None,            (200, 404, 404, 404, 404)),
    ("POST",   "/accounts/alerts/channels/{channel}/delete/",        None,            (302, 404, 403, 302, 404)),
    ("POST",   "/playground/c/{conversation}/delete/",               None,            (200, 404, 404, 404, 404)),
    ("POST",   "/accounts/team/members/{member_row}/remove/",        None,            (302, 404, 403, 302, 404)),  # last
]
# fmt: on


def test_every_object_url_answers_each_kind_of_stranger_as_it_should(world):
    clients, objects, fresh = world
    seen = []
    for method, template, data, _expected in MATRIX:
        got = {}
        # The owner last, so the owner deleting a conversation does not hide what the others would meet.
        for role in (*ACTORS[1:], ACTORS[0]):
            ids = {
                **objects,
                **{name: make() for name, make in fresh.items() if f"{{{name}}}" in template},
            }
            body = {key: value.format(**ids) for key, value in data.items()} if data else None
            got[role] = status(clients[role], method, template.format(**ids), body)
        seen.append((method, template, tuple(got[role] for role in ACTORS)))
    assert [row[2] for row in seen] == [row[3] for row in MATRIX], seen


def test_what_the_team_pages_show_is_scoped_to_who_asks(world):
    clients, _, _ = world
    today = timezone.localdate().isoformat()
    from accounts.services import settlement

    while settlement.usage_settle_pending():
        pass
    request_id = Message.objects.get(role="assistant").request_id
    csv = {
        role: clients[role].get(f"/accounts/usage.csv?start={today}&end={today}").text
        for role in ACTORS
    }
    assert request_id in csv["owner"] and request_id in csv["admin"]
    assert (
        request_id not in csv["member"]
        and request_id not in csv["other"]
        and request_id not in csv["staff"]
    )
    staff_site = (
        clients["staff"].get("/accounts/site/").text
    )  # …but no spend is out of the staff's sight
    assert ">alice<" in staff_site
