"""GET /healthz reports every piece, and is 200 only when all are up; anyone learns up or down, only
a site admin or the monitor's token which part and why."""

import time

import pytest

TOKEN = "monitor-token-1"


@pytest.fixture(autouse=True)
def monitor_token(settings):
    settings.HEALTHZ_TOKEN = TOKEN


def healthz(client, token=TOKEN):
    return client.get("/healthz", headers={"Authorization": f"Bearer {token}"} if token else {})


def test_healthy_with_a_live_worker(client, celery_worker):
    deadline = time.monotonic() + 30
    response = healthz(client)
    while response.status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.5)  # the worker takes a moment to answer pings
        response = healthz(client)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body == {
        "upstream_mode": "simulator",
        "database": "ok",
        "redis": "ok",
        "worker": "ok",
        "upstream": "ok",
        "status": "ok",
    }


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
    from runtime.redis import redis_client

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


@pytest.mark.django_db
def test_anyone_learns_only_up_or_down(client, django_user_model):
    anonymous = healthz(client, token=None)
    assert anonymous.status_code == 503 and anonymous.json() == {
        "status": "degraded"
    }  # no worker here
    assert healthz(client, token="wrong").json() == {"status": "degraded"}
    assert "redis" in healthz(client).json()
    staff = django_user_model.objects.create_user("root", is_staff=True)
    client.force_login(staff)
    assert "database" in healthz(client, token=None).json()
