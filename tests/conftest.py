"""Session-wide real services: Redis, the BigModel simulator, the app under uvicorn, a Celery
worker."""

import pytest

from tests.support import (
    AppProcess,
    LiveServer,
    SimulatorLog,
    database_url_for_tests,
    http_client_for,
    start_redis,
    start_worker,
    stop_worker,
)

SIM_KEY = "sim-test-key.sim-test-secret"
DATABASE_FIXTURES = {
    "db",
    "transactional_db",
    "django_db_setup",
    "live_server_url",
    "celery_worker",
}


def pytest_collection_modifyitems(items):
    """Mark the tests that touch the database, so CI can run them again on PostgreSQL (-m
    database); and put the slow ones first, so that run in parallel none of them ends the run
    alone."""
    for item in items:
        if DATABASE_FIXTURES & set(item.fixturenames) or item.get_closest_marker("django_db"):
            item.add_marker("database")
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def upstream(redis_server):
    """The simulator over real HTTP, as the app's upstream."""
    from bigmodel.simulator import serve_in_thread

    handle = serve_in_thread(port=0, keys=[SIM_KEY])
    yield handle
    handle.stop()


@pytest.fixture(autouse=True)
def _wire_services(request, settings, redis_server, upstream):
    """Point the app at this run's Redis and simulator (for Django tests only)."""
    from config.celery import app as celery_app
    from runtime.kept import kept_forget
    from runtime.redis import redis_client

    settings.REDIS_URL = redis_server.url
    settings.ZHIPUAI_API_KEY = ""
    settings.SIMULATOR_KEY = SIM_KEY
    settings.ZHIPUAI_BASE_URL = upstream.base_url
    settings.UPSTREAM_MODE = "simulator"
    settings.UPSTREAM_MAX_RETRIES = 0
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    celery_app.conf.broker_url = redis_server.url
    redis_client.cache_clear()
    # Ids restart with each test's database: so do the streams keyed by them.
    redis_client().flushdb()
    kept_forget()  # and the prices and catalogue each process keeps
    yield
    redis_client.cache_clear()


@pytest.fixture
def sim_log(upstream) -> SimulatorLog:
    """The simulator's requests from this test on."""
    return SimulatorLog(upstream.url)


@pytest.fixture
def catalogue(db):
    from accounts.services.catalogue import catalogue_load, prices_load

    catalogue_load()
    prices_load()


@pytest.fixture
def live_server_url(transactional_db, _wire_services):
    """The whole app under uvicorn; tests using it see committed data only (transactional_db)."""
    from accounts.services.catalogue import catalogue_load, prices_load

    catalogue_load()
    prices_load()
    server = LiveServer().start()
    yield server.url
    server.stop()


def worker_env(redis_server, upstream) -> dict:
    """What a worker process needs to work on this test run's database, Redis and simulator."""
    from django.conf import settings
    from django.db import connection

    return {
        "REDIS_URL": redis_server.url,
        "DATABASE_URL": database_url_for_tests(connection.settings_dict),
        "SECRET_KEY": settings.SECRET_KEY,  # sessions signed here are good there
        "ZHIPUAI_BASE_URL": upstream.base_url,
        "ZHIPUAI_API_KEY": SIM_KEY,  # the simulator of this run takes only its own key
        "UPSTREAM_MAX_RETRIES": "0",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }


@pytest.fixture
def celery_worker(transactional_db, redis_server, upstream):
    process = start_worker(worker_env(redis_server, upstream))
    yield process
    stop_worker(process)


@pytest.fixture
def web_process(live_server_url, redis_server, upstream):
    """Start more web processes of the app on the test's database and Redis, each with the settings
    it needs given as environment, as a deployment would: ``web_process(MAX_…="10")`` (``log``: a
    file for its output)."""
    started = []

    def start(log=None, **env) -> AppProcess:
        started.append(AppProcess({**worker_env(redis_server, upstream), **env}, log))
        return started[-1]

    yield start
    for app in started:
        app.stop()


@pytest.fixture
def make_user(transactional_db):
    from django.contrib.auth import get_user_model

    def make(username: str):
        return get_user_model().objects.create_user(username, password=f"{username}-password-1")

    return make


@pytest.fixture
def alice_http(make_user, live_server_url):
    client = http_client_for(make_user("alice"), live_server_url)
    yield client
    client.close()
