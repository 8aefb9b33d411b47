"""Thin Celery tasks: take ids, call a service. Periodic ones hold a single-flight lock."""

import functools
import logging
from collections.abc import Callable

from celery import Task, shared_task

from accounts import queue
from accounts.models import AlertSend
from accounts.services import alerts, holds, settlement, wallet
from runtime import keys
from runtime.redis import redis_client

log = logging.getLogger("accounts")

ALERT_RETRIES = 5


def single_flight[**P, R](seconds: int) -> Callable[[Callable[P, R]], Callable[P, R | None]]:
    """Run a periodic job in one worker at a time (SET NX EX); a second one skips."""

    def wrap(job: Callable[P, R]) -> Callable[P, R | None]:
        @functools.wraps(job)
        def run(*args: P.args, **kwargs: P.kwargs) -> R | None:
            key = keys.job_lock(job.__name__)
            if not redis_client().set(key, "1", nx=True, ex=seconds):
                return None
            try:
                return job(*args, **kwargs)
            finally:
                redis_client().delete(key)

        return run

    return wrap


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def settle_usage_task() -> int:
    """Settle what is waiting, in batches. Idempotent: records are claimed by the batch that settles
    them."""
    queue.settlement_started()
    total = 0
    while batch := settlement.usage_settle_pending():
        total += len(batch)
    return total


@shared_task(ignore_result=True)
@single_flight(55)
def usage_sweep_task() -> int:
    """Beat: settle records a lost message or a dead worker left behind; release (or, for an API
    call, bill at worst) holds whose call died; deliver stuck alerts."""
    released = holds.holds_expire()
    if released:
        log.warning("released or billed at worst %d holds whose calls died", released)
    settled = settle_usage_task()
    for send_id in AlertSend.objects.filter(
        status=AlertSend.Status.PENDING, attempts=0
    ).values_list("id", flat=True):
        alert_deliver_task.delay(send_id)
    return settled


@shared_task(ignore_result=True)
@single_flight(55)
def packs_expire_task() -> int:
    return wallet.packs_expire()


@shared_task(ignore_result=True)
@single_flight(600)
def pack_expiry_alerts_task() -> int:
    return alerts.pack_expiry_alerts()


@shared_task(ignore_result=True)
@single_flight(600)
def rollups_reconcile_task() -> dict:
    report = settlement.rollups_reconcile()
    drift = settlement.cash_drift()
    if drift:
        log.error("cash balances differ from the ledger: %s", drift)
    return {**report, "cash_drift": len(drift)}


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=ALERT_RETRIES)
def alert_deliver_task(self: Task[[int], None], send_id: int) -> None:
    try:
        alerts.alert_deliver(send_id=send_id)
    except alerts.DeliveryFailed as failure:
        assert self.max_retries is not None  # ALERT_RETRIES, given above
        if self.request.retries >= self.max_retries:
            alerts.alert_give_up(send_id=send_id)
            return
        raise self.retry(countdown=2 * 2**self.request.retries) from failure
