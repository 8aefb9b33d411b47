"""Replies whose runner died are finished by the beat sweeper, through a real Celery worker."""

import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from config.redis import redis_client
from playground.generation import alive_key, stream_key
from playground.models import Conversation, Message
from playground.tasks import generation_sweep_task


def make_running_reply(user, *, started_ago: int) -> Message:
    conversation = Conversation.objects.create(user=user, model="glm-4-flash", title="t")
    Message.objects.create(conversation=conversation, role="user", content="Hello there")
    return Message.objects.create(
        conversation=conversation,
        role="assistant",
        status="running",
        model="glm-4-flash",
        request_id=f"req-{started_ago}",
        started_at=timezone.now() - timedelta(seconds=started_ago),
    )


def test_the_sweeper_finishes_a_dead_runners_reply_and_keeps_what_arrived(
    transactional_db, celery_worker
):
    user = get_user_model().objects.create_user("bob", password="x-password-1")
    dead = make_running_reply(user, started_ago=600)
    alive = make_running_reply(user, started_ago=601)
    redis = redis_client()
    redis.xadd(stream_key(dead.id), {"t": "delta", "d": "Half a "})
    redis.xadd(stream_key(dead.id), {"t": "delta", "d": "sentence"})
    redis.set(alive_key(alive.id), "1", ex=60)

    generation_sweep_task.delay()

    deadline = time.monotonic() + 30
    while Message.objects.get(id=dead.id).status == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    dead.refresh_from_db()
    assert dead.status == "failed" and dead.error_code == "interrupted"
    assert dead.content == "Half a sentence"
    assert dead.usage_exact is False and dead.completion_tokens > 0
    # Readers are told it is over (just after the save).
    while redis.xrange(stream_key(dead.id))[-1][1]["t"] != "done" and time.monotonic() < deadline:
        time.sleep(0.05)
    entries = redis.xrange(stream_key(dead.id))
    last = entries[-1][1]
    assert last["t"] == "done" and "Half a sentence" in last["html"], entries
    # A runner with a heartbeat is left alone.
    assert Message.objects.get(id=alive.id).status == "running"
