import itertools
from datetime import datetime

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.services.catalogue import catalogue_load, prices_load
from accounts.services.usage import usage_record

_ids = itertools.count(1)


def at(text: str):
    """An aware moment in the app's time zone: at("2026-03-10 12:00")."""
    return timezone.make_aware(datetime.fromisoformat(text))


@pytest.fixture
def prices(db):
    catalogue_load()
    prices_load()


@pytest.fixture
def alice(db):
    return get_user_model().objects.create_user("alice", password="alice-password-1")


@pytest.fixture
def bob(db):
    return get_user_model().objects.create_user("bob", password="bob-password-1")


def record(user, team=None, *, model="glm-4", prompt=0, completion=0, images=0, when=None, size="", exact=True):
    """A usage record as the request path writes it (settlement is left to the test)."""
    made = usage_record(request_id=f"req-{next(_ids)}", user_id=user.id, team_id=(team or user.personal_team).id,
                        model=model,
                        prompt_tokens=prompt, completion_tokens=completion, images=images, size=size, exact=exact)
    if when is not None:
        type(made).objects.filter(id=made.id).update(created_at=when)
        made.refresh_from_db()
    return made
