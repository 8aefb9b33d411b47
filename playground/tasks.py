from datetime import datetime, timedelta

from celery import Task, shared_task
from django.utils import timezone

from playground.models import ImageGeneration
from playground.orphans import replies_sweep
from playground.services import images
from runtime.upstream import upstream

STORE_RETRIES = 5
STORE_BACKOFF_SECONDS = 2  # then 4, 8, 16, 32: about a minute in all
STUCK_AFTER = timedelta(minutes=10)
LOST_AFTER = timedelta(minutes=2)
POLL_SECONDS = 2
POLLS = 150  # a queued image is asked about for five minutes (GLM-Image takes about 20 s)


@shared_task(acks_late=True, ignore_result=True)
def sweep_task() -> int:
    """Beat, every minute: finish replies whose runner died, and look after image generations
    whose task was lost or whose worker died."""
    return len(replies_sweep()) + image_generation_sweep()


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def image_generate_task(generation_id: int) -> None:
    """Call the image model, then keep the image (or poll for it). Safe to deliver twice: the
    call is claimed once."""
    _then(
        images.image_generation_run(generation_id=generation_id, client=upstream()), generation_id
    )


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=POLLS)
def image_poll_task(self: Task[[int], None], generation_id: int) -> None:
    """Ask about a queued image every couple of seconds until it is made or fails."""
    assert self.max_retries is not None  # POLLS, given to the decorator
    step = images.image_generation_poll(generation_id=generation_id, client=upstream())
    if step != images.Next.POLL:
        _then(step, generation_id)
    elif self.request.retries >= self.max_retries:
        images.image_generation_given_up(
            generation_id=generation_id, after=f"{POLLS * POLL_SECONDS // 60} minutes"
        )
    else:
        raise self.retry(countdown=POLL_SECONDS)


def _then(step: "images.Next", generation_id: int) -> None:
    if step == images.Next.STORE:
        image_store_task.delay(generation_id)
    elif step == images.Next.POLL:
        image_poll_task.apply_async((generation_id,), countdown=POLL_SECONDS)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    max_retries=STORE_RETRIES,
)
def image_store_task(self: Task[[int], None], generation_id: int) -> None:
    """Download the generated image, retried with backoff; kept as "unstored" when it never
    works."""
    try:
        images.image_generation_store(generation_id=generation_id)
    except images.StoreFailed as failure:
        assert self.max_retries is not None  # STORE_RETRIES, given to the decorator
        if self.request.retries >= self.max_retries:
            images.image_generation_unstored(generation_id=generation_id, reason=str(failure))
            return
        raise self.retry(countdown=STORE_BACKOFF_SECONDS * 2**self.request.retries) from failure


def image_generation_sweep(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    Status = ImageGeneration.Status
    lost = ImageGeneration.objects.filter(created_at__lt=now - LOST_AFTER)
    for generation_id in lost.filter(status=Status.QUEUED).values_list("id", flat=True):
        # Its message was lost; the claim makes a resend safe.
        image_generate_task.delay(generation_id)
    for generation_id in lost.filter(
        status=Status.STORING, finished_at=None, created_at__lt=now - STUCK_AFTER
    ).values_list("id", flat=True):
        image_store_task.delay(generation_id)
    unpolled = lost.filter(status=Status.RUNNING, polled_at__lt=now - LOST_AFTER).exclude(
        task_id=""
    )
    for generation_id in unpolled.values_list("id", flat=True):
        image_poll_task.delay(generation_id)  # its poller was lost with a worker
    return images.image_generations_interrupted(older_than=now - STUCK_AFTER)
