"""Fixtures for the BigModel simulator tests: one real simulator per test session."""

from __future__ import annotations

import httpx
import pytest

from bigmodel.simulator import serve_in_thread

# A made-up key for tests; deliberately not shaped like a real 32-hex-id key.
KEY = "test-key-id.test-secret-value"


@pytest.fixture(autouse=True)
def _wire_services():
    """bigmodel/ never imports Django: skip the project-wide Django/Redis wiring here."""
    yield


@pytest.fixture(scope="session")
def simulator_key() -> str:
    return KEY


@pytest.fixture(scope="session")
def simulator():
    """A simulator on a free port, shared by the whole session."""
    handle = serve_in_thread(port=0, keys=[KEY])
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def http():
    """A plain client for /_sim/* and file URLs (one client: building one costs ~50 ms)."""
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def sim(simulator, http):
    """The shared simulator with a cleared request log, stats and runtime config."""
    http.post(f"{simulator.url}/_sim/reset").raise_for_status()
    http.post(
        f"{simulator.url}/_sim/config",
        json={"default_fault": None, "latency_ms": 0, "strict": False},
    ).raise_for_status()
    return simulator


@pytest.fixture(scope="session")
def _api_client(simulator):
    with httpx.Client(
        base_url=simulator.base_url + "/", timeout=10, headers={"Authorization": f"Bearer {KEY}"}
    ) as client:
        yield client


@pytest.fixture
def api(sim, _api_client):
    """An httpx client for the simulator's API root, authenticated with ``Bearer KEY``."""
    return _api_client
