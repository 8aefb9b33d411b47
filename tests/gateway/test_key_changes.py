"""Each web process keeps the keys it has seen (runtime.kept): a change made anywhere applies from
the next call, in every process, as if it read the database each time."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.models import ApiKey, Membership
from accounts.services.keys import key_create, key_revoke
from accounts.services.teams import member_add, member_remove, team_create
from tests.gateway.conftest import chat, refusal
from tests.support import owner_of, usage_records


@pytest.fixture
def other(web_process):
    """Another web process of the app, which has already seen the key (one call made)."""
    return web_process()


def test_a_key_revoked_here_is_refused_by_another_process_at_its_next_call(key, other):
    made, raw = key
    assert chat(other.url, raw).status_code == 200
    key_revoke(key=made)
    assert refusal(chat(other.url, raw)) == (401, "1000")
    assert len(usage_records(1)) == 1


def test_a_member_switched_off_is_refused_at_the_next_call(key, other, alice):
    _, raw = key
    assert chat(other.url, raw).status_code == 200
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    response = chat(other.url, raw)
    assert refusal(response) == (401, "1000")
    assert "can no longer sign in" in response.json()["error"]["message"]


def test_a_member_who_left_the_team_is_refused_at_the_next_call(make_user, other):
    alice, bob = make_user("alice"), make_user("bob")
    lab = team_create(name="Lab", owner=bob)
    Membership.objects.create(team=lab, user=alice)
    _, raw = key_create(user=alice, team=lab, name="lab scripts")
    assert chat(other.url, raw).status_code == 200
    Membership.objects.get(team=lab, user=alice).delete()
    response = chat(other.url, raw)
    assert refusal(response) == (401, "1000")
    assert "no longer in Lab" in response.json()["error"]["message"]


def test_a_member_removed_and_added_again_finds_their_old_keys_revoked(make_user, other):
    alice, bob = make_user("alice"), make_user("bob")
    lab = team_create(name="Lab", owner=bob)
    member = member_add(team=lab, user=alice, by=owner_of(lab))
    made, raw = key_create(user=alice, team=lab, name="lab scripts")
    _, own = key_create(user=alice, team=alice.personal_team, name="mine")
    assert chat(other.url, raw).status_code == 200
    member_remove(membership=member, by=owner_of(lab))
    member_add(team=lab, user=alice, by=owner_of(lab))
    response = chat(other.url, raw)
    assert refusal(response) == (401, "1000")
    assert "was revoked" in response.json()["error"]["message"]
    made.refresh_from_db()
    assert made.revoked_by == bob
    assert made.revoked_because == "alice was removed from Lab"
    assert chat(other.url, own).status_code == 200  # her key in another team is hers still


def test_a_team_switched_to_prepaid_with_no_money_is_refused_at_the_next_call(key, other, alice):
    _, raw = key
    assert chat(other.url, raw, model="glm-4.7").status_code == 200
    team = alice.personal_team
    team.billing, team.cash_nano = "prepaid", 0
    team.save(update_fields=["billing", "cash_nano"])
    assert refusal(chat(other.url, raw, model="glm-4.7")) == (429, "1113")  # a model that costs


def test_last_used_is_written_at_most_once_a_minute_whichever_process_wrote_it(
    key, live_server_url
):
    made, raw = key
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert chat(live_server_url, raw).status_code == 200
    made.refresh_from_db()
    assert made.last_used_at == start
    with time_machine.travel(start + timedelta(seconds=59), tick=False):
        assert chat(live_server_url, raw).status_code == 200
    made.refresh_from_db()
    assert made.last_used_at == start  # within the minute: not written again
    # Another process wrote it meanwhile; this one's kept copy still says `start`.
    elsewhere = start + timedelta(seconds=90)
    ApiKey.objects.filter(id=made.id).update(last_used_at=elsewhere)
    with time_machine.travel(start + timedelta(seconds=120), tick=False):
        assert chat(live_server_url, raw).status_code == 200
    made.refresh_from_db()
    assert made.last_used_at == elsewhere  # 30 s after the other write: not yet again
    # This process counts its minute from its last try (120 s): the next write is at 180 s on.
    with time_machine.travel(start + timedelta(seconds=181), tick=False):
        assert chat(live_server_url, raw).status_code == 200
    made.refresh_from_db()
    assert made.last_used_at == start + timedelta(seconds=181)
