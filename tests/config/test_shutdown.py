"""A web process as `make run` starts it stops through the app's lifespan, whose shutdown finishes
what requests left running (config/shutdown.py; the drain itself is tested in
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


async def test_the_drain_waits_for_unfinished_work_but_no_longer_than_its_bound(caplog):
    from config.shutdown import drain, finish_before_exit

    quick = finish_before_exit(asyncio.ensure_future(asyncio.sleep(0.05)))
    stuck = finish_before_exit(asyncio.ensure_future(asyncio.sleep(30)))
    started = time.monotonic()
    await drain(seconds=0.3)
    took = time.monotonic() - started
    assert quick.done() and not stuck.done() and 0.3 <= took < 2
    assert "stopping with 1 tasks still running" in caplog.text
    stuck.cancel()
