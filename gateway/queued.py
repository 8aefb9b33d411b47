"""Chat calls through BigModel's queue: submitted as any call is admitted (held), then recorded
once when their result is first seen SUCCESS (or released when FAIL), whoever asks for it: the
caller through ``async-result/{id}``, or the sweeper for a caller that never asks."""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.services.holds import hold_release
from accounts.services.keys import KeyRefused, key_authenticate
from accounts.services.usage import chat_usage_record
from bigmodel.client import ChatResult
from bigmodel.errors import BigModelError
from gateway.models import QueuedCall
from gateway.services import Admitted, Refused, answered
from runtime.upstream import upstream

log = logging.getLogger(__name__)

NO_TASK = "任务不存在"
ASK_AFTER = timedelta(seconds=30)  # the sweeper leaves a new task to its caller this long


def queued_submitted(admitted: Admitted, answer: dict) -> None:
    """The queue took the call: keep what its result needs (it waits in BigModel's queue, not
    among the key's calls in flight)."""
    QueuedCall.objects.create(
        task_id=str(answer.get("id") or ""),
        request_id=admitted.request_id,
        api_key=admitted.caller.key,
        model=admitted.spec.name,
    )


def queued_for(authorization: str | None, task_id: str) -> QueuedCall:
    """The caller's own queued call (any of their keys made it), or Refused as BigModel refuses an
    unknown task."""
    try:
        caller = key_authenticate(authorization)
    except KeyRefused as refused:
        raise Refused(401, refused.code, refused.message) from None
    found = QueuedCall.objects.filter(task_id=task_id, api_key__user=caller.key.user).first()
    if found is None:
        raise Refused(404, 1233, NO_TASK)
    return found


@transaction.atomic
def queued_settle(call: QueuedCall, result: dict) -> bool:
    """Once the task is over: its usage recorded (SUCCESS) or its hold released (FAIL), once.
    Returns whether this call settled it."""
    status = result.get("task_status")
    if status not in ("SUCCESS", "FAIL"):
        return False
    claimed = QueuedCall.objects.select_for_update().filter(id=call.id, finished_at=None)
    if not claimed.update(finished_at=timezone.now()):
        return False  # settled already
    if status == "FAIL":
        hold_release(request_id=call.request_id)
        return True
    chat_usage_record(
        request_id=call.request_id, arrived=answered(ChatResult.from_response(result))
    )
    return True


def queued_sweep(*, now: datetime | None = None) -> int:
    """Ask BigModel about queued calls nobody has asked about for a while; returns how many were
    settled."""
    settled = 0
    waiting = QueuedCall.objects.filter(
        finished_at=None, created_at__lte=(now or timezone.now()) - ASK_AFTER
    ).select_related("api_key")
    for call in waiting:
        try:
            result = upstream().async_chat_result(call.task_id)
        except BigModelError as error:  # asked again next time; its hold expires if never
            log.warning("queued call %s not settled: %s", call.task_id, error)
            continue
        settled += queued_settle(call, result)
    return settled
