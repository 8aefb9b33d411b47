"""GET /healthz reports every piece, and is 200 only when all are up."""

import time

import pytest


def healthz(client):
    return client.get("/healthz")


def test_healthy_with_a_live_worker(client, celery_worker):
    deadline = time.monotonic() + 30
    response = healthz(client)
    while response.status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.5)  # the worker takes a moment to answer pings
        response = healthz(client)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body == {"upstream_mode": "simulator", "database": "ok", "redis": "ok", "worker": "ok",
                    "upstream": "ok", "status": "ok"}


@pytest.mark.django_db
def test_no_worker_is_503(client):
    response = healthz(client)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["worker"].startswith("down")
    assert body["database"] == "ok" and body["redis"] == "ok"


@pytest.mark.django_db
def test_dead_redis_is_503_and_says_so(client, settings):
    from config.redis import redis_client

    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    redis_client.cache_clear()
    body = healthz(client).json()
    assert body["redis"].startswith("down")
    assert body["status"] == "degraded"


@pytest.mark.django_db
def test_bigmodel_mode_is_reported(client, settings):
    settings.UPSTREAM_MODE = "bigmodel"
    assert healthz(client).json()["upstream_mode"] == "bigmodel"


@pytest.mark.django_db
def test_healthz_needs_no_login_and_leaks_no_key(client, settings):
    settings.ZHIPUAI_API_KEY = "leaky-id.leaky-secret"
    response = healthz(client)
    assert response.status_code in (200, 503)
    assert b"leaky" not in response.content
