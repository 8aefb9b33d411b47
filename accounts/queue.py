"""Background work the accounts services ask for. Tasks are sent by name, so no service imports
``accounts.tasks`` (which imports the services). A dead broker never fails the caller: what was not
queued is left for the beat sweeper (``usage_sweep_task``), and a warning says so."""

import logging

from config.celery import app
from runtime import keys
from runtime.redis import redis_client

log = logging.getLogger("accounts")

SETTLE_PENDING_SECONDS = 30


def settlement() -> None:
    """Ask for a settlement run unless one is already asked for: a run settles everything waiting,
    so a thousand calls a second need a few runs, not a thousand. The run clears the flag as it
    starts (``settlement_started``), so a record committed after that asks for the next run."""
    try:
        if redis_client().set(keys.SETTLE_PENDING, "1", nx=True, ex=SETTLE_PENDING_SECONDS):
            app.send_task("accounts.tasks.settle_usage_task")
    except Exception as error:  # Redis or the broker down: the sweeper settles it
        log.warning("usage left for the sweeper: %s", type(error).__name__)


def settlement_started() -> None:
    try:
        redis_client().delete(keys.SETTLE_PENDING)
    except Exception:  # the flag expires by itself
        pass


def alert_deliveries(send_ids: list[int]) -> None:
    for send_id in send_ids:
        try:
            app.send_task("accounts.tasks.alert_deliver_task", args=[send_id])
        except Exception as error:  # the sweeper delivers pending sends later
            log.warning("alert %s waits for the sweeper: %s", send_id, type(error).__name__)
