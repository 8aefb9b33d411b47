import httpx
import pytest
from django.conf import settings as django_settings
from django.test import Client


def http_client_for(user, base_url: str) -> httpx.Client:
    """An httpx client logged in as `user` against the live server (with its CSRF token)."""
    django_client = Client()
    django_client.force_login(user)
    session = django_client.cookies[django_settings.SESSION_COOKIE_NAME].value
    client = httpx.Client(base_url=base_url, cookies={django_settings.SESSION_COOKIE_NAME: session}, timeout=30)
    client.get("/playground/")
    token = client.cookies.get(django_settings.CSRF_COOKIE_NAME)
    client.headers.update({"X-CSRFToken": token, "HX-Request": "true"})
    return client


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
