from celery import shared_task

from playground.generation import generation_sweep as sweep


@shared_task(acks_late=True, ignore_result=True)
def generation_sweep() -> int:
    """Beat, every minute: finish replies whose runner died."""
    return len(sweep())
