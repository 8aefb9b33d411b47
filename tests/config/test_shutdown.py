"""A web process as `make run` starts it stops through the app's lifespan, whose shutdown finishes
what requests left running (config/shutdown.py; the drain itself is tested in
tests/gateway/test_endpoint.py)."""


def test_a_web_process_runs_the_apps_shutdown_before_it_exits(web_process, tmp_path):
    log = tmp_path / "web.log"
    web = web_process(log=log, UVICORN_LOG_LEVEL="info")
    web.stop()
    said = log.read_text()
    assert "Waiting for application shutdown." in said
    assert "Application shutdown complete." in said
