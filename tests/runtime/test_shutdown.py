"""A web process as `make run` starts it stops through the app's lifespan, whose shutdown finishes
what requests left running (runtime/shutdown.py; the drain itself is tested in
tests/gateway/test_endpoint.py)."""

import asyncio
import time


def test_a_web_process_runs_the_apps_shutdown_before_it_exits(web_process, tmp_path):
    log = tmp_path / "web.log"
    web = web_process(log=log, UVICORN_LOG_LEVEL="info")
    web.stop()
    said = log.read_text()
    assert "Waiting for application shutdown." in said
    assert "Application shutdown complete." in said


async def test_the_drain_waits_for_unfinished_work_then_stops_it_but_no_longer_than_its_bounds(
    caplog,
):
    from runtime.shutdown import drain, finish_before_exit

    async def deaf() -> None:  # what a cancel does not end at once
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            await asyncio.sleep(30)

    quick = finish_before_exit(asyncio.ensure_future(asyncio.sleep(0.05)))
    slow = finish_before_exit(asyncio.ensure_future(asyncio.sleep(30)))
    stuck = finish_before_exit(asyncio.ensure_future(deaf()))
    started = time.monotonic()
    await drain(seconds=0.3, stop_seconds=0.3)
    took = time.monotonic() - started
    assert quick.done() and slow.cancelled() and not stuck.done() and 0.6 <= took < 2
    assert "stopping with 2 tasks still running" in caplog.text
    assert "1 tasks did not end when stopped" in caplog.text
    stuck.cancel()


def test_a_web_process_told_to_stop_saves_and_bills_the_replies_it_was_writing(
    web_process, make_user
):
    from accounts.models import Hold, UsageRecord
    from playground.models import Message
    from tests.support import http_client_for

    web = web_process()
    client = http_client_for(make_user("carol"), web.url)
    data = {"model": "glm-4-flash", "message": "At length [[long]] [[fault:latency=50]]"}
    assert client.post("/playground/send/", data=data).status_code == 200
    reply = Message.objects.get(role="assistant")
    with client.stream("GET", f"/playground/r/{reply.public_id}/stream/") as events:
        next(line for line in events.iter_lines() if line.startswith("event: delta"))
    client.close()
    web.stop()  # a deploy: SIGTERM while the reply is being written
    reply.refresh_from_db()
    assert reply.status in ("done", "stopped") and reply.content  # saved, not left running
    record = UsageRecord.objects.get(request_id=reply.request_id)
    assert record.completion_tokens > 0 and not Hold.objects.exists()
