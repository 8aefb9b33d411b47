"""Replies whose runner died are finished by the beat sweeper, through a real Celery worker."""

import time
from datetime import timedelta

from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.services.catalogue import catalogue_load, prices_load
from accounts.services.holds import chat_worst_case, hold_place
from bigmodel.catalogue import default_catalogue
from bigmodel.params import build_chat_body
from playground.models import Conversation, Message
from playground.reply_stream import keep_alive
from playground.selectors import history_for
from playground.services.replies import reply_stream_of
from playground.tasks import sweep_task
from tests.support import owner_of


def published(stream, text: str) -> None:
    """A delta, as a runner publishes it."""

    async def publish() -> None:
        await stream.publish(text)

    async_to_sync(publish)()


def make_running_reply(user, *, started_ago: int) -> Message:
    """A reply saved as a turn saves it (its call's worst case held), whose runner went quiet
    ``started_ago`` seconds after it began."""
    conversation = Conversation.objects.create(user=user, model="glm-4-flash", title="t")
    Message.objects.create(conversation=conversation, role="user", content="Hello there")
    spec, request_id = default_catalogue()["glm-4-flash"], f"req-{started_ago}"
    body = build_chat_body(spec, messages=history_for(conversation=conversation))
    hold_place(
        membership=owner_of(user.personal_team),
        request_id=request_id,
        call=chat_worst_case(spec, body),
    )
    return Message.objects.create(
        conversation=conversation,
        role="assistant",
        status="running",
        model="glm-4-flash",
        request_id=request_id,
        team=user.personal_team,
        started_at=timezone.now() - timedelta(seconds=started_ago),
    )


def test_the_sweeper_finishes_a_dead_runners_reply_and_keeps_what_arrived(
    transactional_db, celery_worker
):
    catalogue_load()
    prices_load()  # a reply is held at its price
    user = get_user_model().objects.create_user("bob", password="x-password-1")
    dead = make_running_reply(user, started_ago=600)
    alive = make_running_reply(user, started_ago=601)
    stream = reply_stream_of(dead)
    published(stream, "Half a ")
    published(stream, "sentence")
    async_to_sync(keep_alive)([reply_stream_of(alive)])

    sweep_task.delay()

    deadline = time.monotonic() + 30
    while Message.objects.get(id=dead.id).status == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    dead.refresh_from_db()
    assert dead.status == "failed" and dead.error_code == "interrupted"
    assert dead.content == "Half a sentence"
    assert dead.usage_exact is False and dead.completion_tokens > 0
    # Readers are told it is over (just after the save).
    while not stream.pieces_so_far()[-1].is_final and time.monotonic() < deadline:
        time.sleep(0.05)
    pieces = stream.pieces_so_far()
    assert pieces[-1].is_final and "Half a sentence" in pieces[-1].final_html, pieces
    # A runner with a heartbeat is left alone.
    assert Message.objects.get(id=alive.id).status == "running"
