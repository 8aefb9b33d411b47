"""What the endpoint's tests share: a member, a key of theirs, the endpoint's base URL (as the SDKs
take it) and how BigModel's errors read."""

import httpx
import pytest

from accounts.services.keys import key_create


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def key(alice):
    """(the key's row, the key itself)."""
    return key_create(user=alice, team=alice.personal_team, name="scripts")


@pytest.fixture
def base(live_server_url):
    return f"{live_server_url}/api/paas/v4/"


def refusal(response: httpx.Response) -> tuple[int, str]:
    """A refusal's status and BigModel's business code."""
    return response.status_code, response.json()["error"]["code"]


MESSAGES = [{"role": "user", "content": "Count my calls."}]


def chat(base: str, raw: str, messages=MESSAGES, **body) -> httpx.Response:
    """A plain chat call to the console at ``base`` (a web process's URL) with the key ``raw``;
    ``body`` adds to the request's body or changes it."""
    return httpx.post(
        f"{base}/api/paas/v4/chat/completions",
        json={"model": "glm-4-flash", "messages": messages} | body,
        headers={"Authorization": f"Bearer {raw}"},
        timeout=30,
    )
