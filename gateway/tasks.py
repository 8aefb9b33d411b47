from celery import shared_task

from gateway.queued import queued_sweep


@shared_task(ignore_result=True)
def queued_sweep_task() -> int:
    """Beat, every minute: settle queued calls whose callers never asked for their result."""
    return queued_sweep()
