"""Rotating a key: a new secret under the same key id (its limits, budget and usage stay); the
old secret, raw or as the JWT it signs, works until the grace picked and is refused after."""

from datetime import timedelta

import httpx
import pytest
import time_machine
from django.utils import timezone
from zhipuai import ZhipuAI

from accounts.services.keys import (
    KeyNotMade,
    KeyRefused,
    key_authenticate,
    key_create,
    key_revoke,
    key_rotate,
)
from bigmodel.simulator import make_jwt
from tests.support import usage_records

MESSAGES = [{"role": "user", "content": "Rotate me."}]


def refused_code(header: str) -> int:
    with pytest.raises(KeyRefused) as refused:
        key_authenticate(header)
    return refused.value.code


def test_the_old_secret_works_until_its_grace_ends(alice):
    key, old = key_create(user=alice, team=alice.personal_team, name="ci")
    key, new = key_rotate(key=key, grace=timedelta(hours=1))
    for raw in (old, new):
        assert key_authenticate(f"Bearer {raw}").key.id == key.id
        assert key_authenticate(make_jwt(raw)).key.id == key.id
    with time_machine.travel(timezone.now() + timedelta(minutes=61)):
        assert refused_code(f"Bearer {old}") == 1000
        assert refused_code(make_jwt(old)) == 1004  # a signature the key no longer takes
        assert key_authenticate(f"Bearer {new}").key.id == key.id
        assert key_authenticate(make_jwt(new)).key.id == key.id


def test_without_grace_the_old_secret_is_refused_at_once(alice):
    key, old = key_create(user=alice, team=alice.personal_team, name="leaked")
    key, new = key_rotate(key=key, grace=timedelta(0))
    assert refused_code(f"Bearer {old}") == 1000 and refused_code(make_jwt(old)) == 1004
    assert key_authenticate(f"Bearer {new}").key.id == key.id
    # Rotating again forgets the first secret entirely.
    key, newer = key_rotate(key=key, grace=timedelta(days=1))
    assert refused_code(f"Bearer {old}") == 1000
    assert key_authenticate(f"Bearer {new}").key.id == key_authenticate(f"Bearer {newer}").key.id


def test_a_revoked_key_cannot_be_rotated_back_to_life(alice):
    key, _ = key_create(user=alice, team=alice.personal_team, name="gone")
    key_revoke(key=key)
    with pytest.raises(KeyNotMade, match="cannot be rotated"):
        key_rotate(key=key, grace=timedelta(0))


def test_calls_with_the_old_and_the_new_secret_land_on_the_same_key(alice, live_server_url):
    key, old = key_create(user=alice, team=alice.personal_team, name="svc")
    key, new = key_rotate(key=key, grace=timedelta(days=1))
    base = f"{live_server_url}/api/paas/v4/"
    for raw in (old, new):
        answer = ZhipuAI(api_key=raw, base_url=base).chat.completions.create(
            model="glm-4-flash", messages=MESSAGES
        )
        assert answer.choices[0].message.content
    assert [record.api_key_id for record in usage_records(2)] == [key.id, key.id]
    key_rotate(key=key, grace=timedelta(0))
    response = httpx.post(
        f"{base}chat/completions",
        json={"model": "glm-4-flash", "messages": MESSAGES},
        headers={"Authorization": f"Bearer {new}"},
    )
    assert response.status_code == 401 and response.json()["error"]["code"] == "1000"


def test_no_secret_reaches_the_logs_the_answers_or_a_dump(alice, live_server_url, caplog):
    import json
    import logging

    from django.conf import settings

    from accounts.models import ApiKey

    caplog.set_level(logging.DEBUG)
    key, old = key_create(user=alice, team=alice.personal_team, name="quiet")
    key, new = key_rotate(key=key, grace=timedelta(hours=1))
    base = f"{live_server_url}/api/paas/v4/chat/completions"
    answers = []
    for authorization, content in (
        (f"Bearer {new}", "Hello"),
        (f"Bearer {old}", "x [[fault:1301]]"),  # an upstream refusal
        (f"Bearer {key.key_id}.wrong-secret", "Hello"),
        (make_jwt(new), "Hello"),
    ):
        answers.append(
            httpx.post(
                base,
                json={"model": "glm-4-flash", "messages": [{"role": "user", "content": content}]},
                headers={"Authorization": authorization},
            ).text
        )
    site_secret = settings.SIMULATOR_KEY.split(".")[1]
    dump = json.dumps(list(ApiKey.objects.values()), default=str)
    for secret in (old.split(".")[1], new.split(".")[1], site_secret):
        assert secret not in caplog.text
        assert not any(secret in answer for answer in answers)
    for secret in (old.split(".")[1], new.split(".")[1]):
        assert secret not in dump
