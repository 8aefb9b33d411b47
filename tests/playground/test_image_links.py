"""Image links are BigModel's to fetch, from its own network: the playground checks their form and
count only, never looks them up, so a send with many links costs the other users nothing."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from playground.models import Message
from tests.playground.test_vision import chat_requests, finish, latest_reply, send_links
from tests.support import http_client_for


def inside_links(count: int) -> list[str]:
    """Links each of which would be refused, were it looked at."""
    return [f"http://10.0.{i // 250}.{i % 250 + 1}/photo.png" for i in range(count)]


def test_more_links_than_the_model_takes_are_refused_at_once_with_the_limit_named(
    alice_http, sim_log
):
    response = send_links(alice_http, "All of these?", inside_links(100), model="glm-4v-plus")
    assert response.headers["HX-Retarget"] == "#form-errors"
    assert "takes up to 5 images per request (this one would carry 100)" in response.text
    assert "not on the public internet" not in response.text  # no link was looked at
    assert sim_log.calls() == [] and not Message.objects.exists()


def test_a_link_is_checked_for_its_form_and_sent_as_given_without_a_lookup(alice_http, upstream):
    link = "https://cat-pictures.example/cat.jpg"  # a reserved name no resolver answers for
    response = send_links(alice_http, "What is this?", [link])
    assert response.status_code == 200 and "HX-Retarget" not in response.headers, response.text
    finish(alice_http, latest_reply().id)
    parts = chat_requests(upstream)[-1]["body"]["messages"][-1]["content"]
    assert parts[1] == {"type": "image_url", "image_url": {"url": link}}


@pytest.mark.parametrize(
    "link, words",
    [
        ("https://localhost/a.png", "inside a network"),
        ("https://printer.local/a.png", "inside a network"),
        ("http://metadata.google.internal/computeMetadata/v1/", "inside a network"),
        ("http://2130706433/a.png", "not on the public internet"),  # 127.0.0.1
        ("http://[64:ff9b::a9fe:a9fe]/latest/meta-data/", "not on the public internet"),
        ("http://[::ffff:10.0.0.1]/a.png", "not on the public internet"),
    ],
)
def test_a_link_that_names_a_place_inside_a_network_is_refused(alice_http, sim_log, link, words):
    response = send_links(alice_http, "Look", [link])
    assert response.headers["HX-Retarget"] == "#form-errors" and words in response.text
    assert sim_log.calls() == []


SENDS = 8


def test_sends_with_many_links_leave_other_users_pages_quick(
    alice_http, make_user, live_server_url
):
    bob = http_client_for(make_user("bob"), live_server_url)
    links = [f"https://img{i}.pictures-{i % 7}.example/photo.jpg" for i in range(100)]
    start = threading.Barrier(SENDS + 1)

    def send_many(_):
        start.wait()
        return send_links(alice_http, "All of these?", links, model="glm-4.6v")

    try:
        with ThreadPoolExecutor(SENDS) as pool:
            sends = [pool.submit(send_many, n) for n in range(SENDS)]
            start.wait()
            began = time.monotonic()
            page = bob.get("/accounts/")
            took = time.monotonic() - began
            answers = [send.result() for send in sends]
    finally:
        bob.close()
    assert page.status_code == 200 and took < 1.0, f"bob waited {took:.2f} s"
    assert all("takes up to 50 images" in answer.text for answer in answers)
