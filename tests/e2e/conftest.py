import os

import pytest
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser():
    # Playwright's sync API keeps an event loop running in this thread while it is up, which
    # Django takes for async code and refuses ORM calls from (the tests' own calls are plain
    # sync code), and which would break later tests that start a loop: so one per test.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            yield browser
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def console_errors():
    """Every console error and uncaught exception of the test's pages (a CSP violation among
    them)."""
    return []


def _watch(page, errors: list) -> None:
    page.on(
        "console",
        lambda message: (
            errors.append(f"{page.url}: {message.text}") if message.type == "error" else None
        ),
    )
    page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))


@pytest.fixture
def context(browser, console_errors, live_server_url):
    """Closed before the live server stops, so streams still open at the end log no errors."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(15000)
    context.on("page", lambda page: _watch(page, console_errors))
    yield context
    context.close()
    assert console_errors == [], "the browser console was not clean"


def log_in(page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/playground/")


@pytest.fixture
def user(transactional_db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("alice", password="alice-password-1")


@pytest.fixture
def page(context, live_server_url, user):
    page = context.new_page()
    log_in(page, live_server_url, "alice", "alice-password-1")
    return page
