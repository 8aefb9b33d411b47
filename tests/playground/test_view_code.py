""" "View code" shows a call members can make: to this console's own endpoint, with their own API
key read from the environment (the site's upstream and its key are never in it), and says so when
they have no key yet. The snippets run as shown against the live server, which forwards to the
simulator and bills the key."""

from django.contrib.auth import get_user_model

from accounts.models import UsageRecord
from accounts.services.keys import key_create, key_revoke
from playground.snippets import KEY_VARIABLE
from tests.playground.test_today import _snippets, run_snippets
from tests.support import usage_records

TURN = {"model": "glm-4.7", "message": "Why is the sky blue?", "thinking": "disabled"}


def _code(client) -> str:
    return client.post("/playground/code/", data=TURN).text


def test_the_code_calls_this_console_with_the_member_s_own_key(
    alice_http, live_server_url, settings
):
    page = _code(alice_http)
    code = _snippets(page)
    endpoint = f"{live_server_url}/api/paas/v4"
    for slug, text in code.items():
        assert endpoint in text, slug
        assert KEY_VARIABLE in text, slug
        assert "ZHIPUAI_API_KEY" not in text, slug
    assert settings.ZHIPUAI_BASE_URL not in page  # the site's upstream is not the members'
    assert f'base_url="{endpoint}"' in code["zai"] and f'base_url="{endpoint}"' in code["zhipuai"]
    assert f'base_url="{endpoint}/"' in code["openai"]
    assert f"curl -N {endpoint}/chat/completions" in code["curl"]


def test_with_no_key_yet_it_says_where_to_make_one(alice_http):
    alice = get_user_model().objects.get(username="alice")
    page = _code(alice_http)
    assert "You have no API key for Personal yet" in page
    assert 'href="/accounts/keys/"' in page
    key, _ = key_create(user=alice, team=alice.personal_team, name="scripts")
    assert "You have no API key" not in _code(alice_http)
    key_revoke(key=key)  # a revoked key is no key
    assert "You have no API key for Personal yet" in _code(alice_http)


def test_a_key_that_may_not_call_the_model_is_said(alice_http):
    alice = get_user_model().objects.get(username="alice")
    key_create(user=alice, team=alice.personal_team, name="flash only", models=["glm-4-flash"])
    page = _code(alice_http)
    assert "None of your API keys for Personal may call glm-4.7" in page


def test_the_snippets_run_as_shown_and_the_key_pays(alice_http):
    alice = get_user_model().objects.get(username="alice")
    key, raw = key_create(user=alice, team=alice.personal_team, name="scripts")
    code = _snippets(_code(alice_http))
    for slug, printed in run_snippets(code, raw).items():
        assert printed.strip(), slug
    records = usage_records(3)
    assert [(r.source, r.api_key_id) for r in records] == [(UsageRecord.Source.API, key.id)] * 3
