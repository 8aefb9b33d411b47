"""CogView generations end to end over real HTTP with a real Celery worker: queued, generated,
downloaded into private storage, served by the app after the upstream link expires, billed once."""

import io
import time
from datetime import timedelta

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from PIL import Image

from accounts.models import Hold, UsageRecord
from accounts.services import settlement
from playground import tasks
from playground.models import ImageGeneration
from playground.services import images as services
from runtime.upstream import upstream as upstream_client
from tests.support import http_client_for, owner_of


def image_requests(upstream) -> list[dict]:
    return httpx.get(
        f"{upstream.url}/_sim/requests", params={"path": "/images/generations"}
    ).json()["requests"]


def generate(client, prompt, **fields):
    return client.post(
        "/playground/images/", data={"model": "cogview-3-plus", "prompt": prompt, **fields}
    )


def wait_until_final(client, generation: ImageGeneration, timeout: float = 30) -> ImageGeneration:
    """Poll the card as the page does, until it stops asking to be polled."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        card = client.get(f"/playground/images/{generation.public_id}/").text
        if 'hx-trigger="every 1s"' not in card:
            generation.refresh_from_db()
            return generation
        time.sleep(0.2)
    raise AssertionError(f"generation still {ImageGeneration.objects.get(id=generation.id).status}")


def test_a_generation_at_a_chosen_size_is_stored_and_outlives_the_upstream_link(
    alice_http, celery_worker, upstream, make_user, live_server_url
):
    response = generate(alice_http, "A lighthouse at dusk", size="768x1344")
    assert response.status_code == 200 and response.headers["HX-Retarget"] == "#gallery"
    generation = wait_until_final(alice_http, ImageGeneration.objects.get())
    assert generation.status == "done", generation.error_message
    assert (generation.width, generation.height) == (768, 1344)

    sent = image_requests(upstream)[-1]["body"]
    assert sent == {
        "model": "cogview-3-plus",
        "prompt": "A lighthouse at dusk",
        "size": "768x1344",
        "request_id": generation.request_id,
    }
    served = alice_http.get(f"/playground/images/{generation.public_id}/file/")
    assert served.status_code == 200 and served.content == open(generation.file.path, "rb").read()
    assert Image.open(io.BytesIO(served.content)).size == (768, 1344)

    httpx.post(f"{upstream.url}/_sim/expire-files")
    assert httpx.get(generation.upstream_url).status_code == 404
    assert (
        alice_http.get(f"/playground/images/{generation.public_id}/file/").content == served.content
    )
    gallery = alice_http.get("/playground/images/").text
    assert (
        f"/playground/images/{generation.public_id}/file/" in gallery
        and generation.upstream_url not in gallery
    )

    record = UsageRecord.objects.get()
    assert (record.request_id, record.model, record.images, record.prompt_tokens, record.exact) == (
        generation.request_id,
        "cogview-3-plus",
        1,
        0,
        True,
    )
    assert record.held_nano == 60_000_000 and not Hold.objects.exists()  # ¥0.06 held, then replaced

    bob = http_client_for(make_user("bob"), live_server_url)
    for url in ("/", "/file/"):
        assert bob.get(f"/playground/images/{generation.public_id}{url}").status_code == 404
    for action in ("delete", "again"):
        assert bob.post(f"/playground/images/{generation.public_id}/{action}/").status_code == 404
    assert ImageGeneration.objects.count() == 1


def test_generate_again_and_delete_keep_the_bill(alice_http, celery_worker):
    generate(alice_http, "Two cats", size="1024x1024")
    first = wait_until_final(alice_http, ImageGeneration.objects.get())
    again = alice_http.post(f"/playground/images/{first.public_id}/again/")
    assert again.headers["HX-Reswap"] == "afterbegin"
    second = wait_until_final(alice_http, ImageGeneration.objects.exclude(id=first.id).get())
    assert (second.model, second.prompt, second.size, second.status) == (
        first.model,
        first.prompt,
        first.size,
        "done",
    )

    path = first.file.path
    assert alice_http.post(f"/playground/images/{first.public_id}/delete/").status_code == 200
    assert not ImageGeneration.objects.filter(id=first.id).exists()
    assert not __import__("os").path.exists(path)
    assert UsageRecord.objects.filter(images=1).count() == 2  # the deleted image was still billed


def test_an_unsafe_prompt_fails_in_plain_words_and_is_not_billed(alice_http, celery_worker):
    generate(alice_http, "Something unsafe [[fault:1301]]")
    generation = wait_until_final(alice_http, ImageGeneration.objects.get())
    assert generation.status == "failed" and generation.error_code == "1301"
    card = alice_http.get(f"/playground/images/{generation.public_id}/").text
    assert "(1301)" in card and generation.error_message.split(" (")[0] in card
    assert (
        not UsageRecord.objects.exists() and not Hold.objects.exists()
    )  # nothing billed, nothing held


@pytest.mark.parametrize(
    "fields, words",
    [
        ({"prompt": "x" * 834}, "The prompt is 834 characters; CogView-3-Plus takes at most 833."),
        ({"prompt": "A boat", "size": "100x100"}, "CogView-3-Plus makes these sizes: 1024x1024"),
        ({"prompt": "A boat", "model": "glm-4"}, "“glm-4” is not an image model"),
        ({"prompt": ""}, "Describe the image to generate."),
        (
            {"prompt": "A boat", "model": "cogview-4", "quality": "ultra"},
            "CogView-4 takes quality standard or hd.",
        ),
    ],
)
def test_bad_requests_are_refused_before_anything_is_queued(alice_http, upstream, fields, words):
    before = len(image_requests(upstream))
    response = generate(alice_http, **{"prompt": "", **fields})
    assert response.headers["HX-Retarget"] == "#image-errors"
    assert words in response.text
    assert not ImageGeneration.objects.exists() and len(image_requests(upstream)) == before


def test_a_model_without_sizes_is_sent_none(alice_http, celery_worker, upstream):
    generate(alice_http, "An old map", model="cogview-3", size="768x1344")
    generation = wait_until_final(alice_http, ImageGeneration.objects.get())
    assert generation.status == "done" and generation.size == ""
    assert "size" not in image_requests(upstream)[-1]["body"]


def test_a_download_that_keeps_failing_is_retried_then_kept_as_unstored_and_billed(
    transactional_db, upstream, make_user
):
    user = make_user("carol")
    from accounts.models import ModelEntry
    from accounts.services.catalogue import catalogue_load, prices_load

    catalogue_load()
    prices_load()  # a call is made only at a price
    spec = ModelEntry.objects.get(name="cogview-3-plus").as_spec()
    generation = services.image_generation_start(
        user=user,
        membership=owner_of(user.personal_team),
        spec=spec,
        prompt="A bridge",
        size="1024x1024",
    )
    assert services.image_generation_run(generation_id=generation.id, client=upstream_client())
    assert not services.image_generation_run(
        generation_id=generation.id, client=upstream_client()
    )  # claimed once
    httpx.post(f"{upstream.url}/_sim/expire-files")

    tasks.image_store_task.apply(args=[generation.id])  # eager: each retry runs at once
    generation.refresh_from_db()
    assert generation.status == "unstored" and not generation.file
    assert generation.store_attempts == tasks.STORE_RETRIES + 1
    assert "HTTP 404" in generation.error_message and "billed" in generation.error_message
    assert UsageRecord.objects.get().request_id == generation.request_id
    assert (
        len(
            [
                r
                for r in image_requests(upstream)
                if r["body"].get("request_id") == generation.request_id
            ]
        )
        == 1
    )


def test_the_sweeper_fails_calls_whose_worker_died(transactional_db, make_user):
    user = make_user("dave")
    stuck = ImageGeneration.objects.create(
        user=user,
        team=user.personal_team,
        model="cogview-3",
        prompt="p",
        request_id="stuck",
        status=ImageGeneration.Status.RUNNING,
    )
    ImageGeneration.objects.filter(id=stuck.id).update(
        created_at=timezone.now() - timedelta(minutes=11)
    )
    recent = ImageGeneration.objects.create(
        user=user,
        team=user.personal_team,
        model="cogview-3",
        prompt="p",
        request_id="recent",
        status=ImageGeneration.Status.RUNNING,
    )
    assert tasks.image_generation_sweep() == 1
    stuck.refresh_from_db()
    recent.refresh_from_db()
    assert (stuck.status, stuck.error_code, recent.status) == ("failed", "interrupted", "running")


def test_generate_again_with_a_model_no_longer_offered_says_so(alice_http):
    from accounts.models import ModelEntry

    user = get_user_model().objects.get(username="alice")
    old = ImageGeneration.objects.create(
        user=user,
        team=user.personal_team,
        model="cogview-3",
        prompt="p",
        request_id="old",
        status=ImageGeneration.Status.DONE,
    )
    ModelEntry.objects.filter(name="cogview-3").update(enabled=False)
    response = alice_http.post(f"/playground/images/{old.public_id}/again/")
    assert response.status_code == 200 and response.headers["HX-Retarget"] == "#image-errors"
    assert "cogview-3 is no longer offered; pick another model." in response.text
    assert "prompt" not in response.text  # no errors about a form that was never filled in


def test_cogview_4_is_sent_the_quality_picked_or_its_default_and_the_card_says_which(
    alice_http, celery_worker, upstream
):
    generate(alice_http, "A quiet harbour", model="cogview-4", quality="hd", size="1440x720")
    hd = wait_until_final(alice_http, ImageGeneration.objects.get())
    assert hd.status == "done" and hd.quality == "hd"
    assert image_requests(upstream)[-1]["body"]["quality"] == "hd"
    assert "1440x720 · hd" in alice_http.get(f"/playground/images/{hd.public_id}/").text
    generate(alice_http, "A quiet harbour", model="cogview-4")
    plain = wait_until_final(alice_http, ImageGeneration.objects.exclude(id=hd.id).get())
    assert plain.quality == "standard"  # CogView-4's default, sent as such
    assert image_requests(upstream)[-1]["body"]["quality"] == "standard"
    # A model that takes no quality is sent none.
    generate(alice_http, "A quiet harbour", quality="hd")
    old = wait_until_final(alice_http, ImageGeneration.objects.filter(model="cogview-3-plus").get())
    assert old.quality == "" and "quality" not in image_requests(upstream)[-1]["body"]


def test_glm_image_is_made_in_the_upstreams_queue_polled_stored_and_billed_once(
    alice_http, celery_worker, sim_log
):
    generate(alice_http, "A tea house in the rain", model="glm-image")
    generation = wait_until_final(alice_http, ImageGeneration.objects.get())
    assert generation.status == "done", generation.error_message
    assert (generation.width, generation.height, generation.quality) == (1280, 1280, "hd")
    [sent] = sim_log.calls("/images/generations")  # the queued path's, never the plain one
    assert sent["path"].endswith("/async/images/generations")
    assert sent["body"]["model"] == "glm-image" and sent["body"]["size"] == "1280x1280"
    assert generation.task_id and sim_log.calls(f"/async-result/{generation.task_id}")
    record = UsageRecord.objects.get()
    assert (record.request_id, record.images) == (generation.request_id, 1)
    while settlement.usage_settle_pending():
        pass
    record.refresh_from_db()
    assert record.cost_nano == 100_000_000  # ¥0.1 per image, as seeded
    assert not Hold.objects.exists()


def test_a_queued_image_that_fails_upstream_is_not_billed(alice_http, celery_worker):
    generate(alice_http, "A tea house [[fault:task-fail]]", model="glm-image")
    generation = wait_until_final(alice_http, ImageGeneration.objects.get())
    assert (generation.status, generation.error_message) == (
        "failed",
        "BigModel could not make this image.",
    )
    assert not UsageRecord.objects.exists() and not Hold.objects.exists()


@pytest.fixture
def slow_queue(upstream):
    before = httpx.get(f"{upstream.url}/_sim/config").json()["async_seconds"]
    httpx.post(f"{upstream.url}/_sim/config", json={"async_seconds": 3600})
    yield
    httpx.post(f"{upstream.url}/_sim/config", json={"async_seconds": before})


def _queued_generation(user):
    from accounts.models import ModelEntry

    generation = services.image_generation_start(
        user=user,
        membership=owner_of(user.personal_team),
        spec=ModelEntry.objects.get(name="glm-image").as_spec(),
        prompt="A tea house",
        size="1280x1280",
        quality="hd",
    )
    step = services.image_generation_run(generation_id=generation.id, client=upstream_client())
    assert step == services.Next.POLL
    return generation


def test_a_queued_image_never_made_is_given_up_and_its_hold_released(
    live_server_url, make_user, slow_queue, monkeypatch
):
    generation = _queued_generation(make_user("erin"))
    monkeypatch.setattr(tasks.image_poll_task, "max_retries", 3)
    tasks.image_poll_task.apply(args=[generation.id])  # eager: each retry runs at once
    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == ("failed", "timeout")
    assert "had not made the image after 5 minutes" in generation.error_message
    assert not Hold.objects.exists() and not UsageRecord.objects.exists()


def test_the_sweeper_polls_a_queued_image_whose_poller_was_lost(
    live_server_url, make_user, celery_worker
):
    generation = _queued_generation(make_user("fay"))  # submitted; no poll task was sent
    ImageGeneration.objects.filter(id=generation.id).update(
        created_at=timezone.now() - timedelta(minutes=3),
        polled_at=timezone.now() - timedelta(minutes=3),
    )
    tasks.image_generation_sweep()
    deadline = time.monotonic() + 30
    while generation.status != "done" and time.monotonic() < deadline:
        time.sleep(0.2)
        generation.refresh_from_db()
    assert generation.status == "done" and UsageRecord.objects.get().images == 1
