"""The API keys page: a member makes a key and sees it once, lists their keys masked with what
each spent this month, and revokes them; the team's owners and admins see and revoke every
member's; nobody else's keys are reachable."""

import re

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts.models import ApiKey, Membership, Team
from accounts.services import settlement
from accounts.services.keys import KeyRefused, key_authenticate, key_create
from tests.accounts.conftest import record

pytestmark = pytest.mark.usefixtures("prices")


def client_for(user, team=None):
    client = Client()
    client.force_login(user)
    if team is not None:
        client.post("/accounts/team/switch/", {"team": team.id})
    return client


@pytest.fixture
def team(alice, bob):
    team = Team.objects.create(name="Lab")
    Membership.objects.create(team=team, user=alice, role="owner")
    Membership.objects.create(team=team, user=bob, role="member")
    return team


def test_a_key_is_shown_once_and_then_only_masked(alice, team):
    page = client_for(alice, team)
    response = page.post(
        "/accounts/keys/new/",
        {"name": "nightly", "models": "glm-4-flash", "budget": "1.5", "period": "day"},
    )
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    raw = re.search(r'<code class="secret" id="new-key">([^<]+)</code>', response.content.decode())[
        1
    ]
    key = ApiKey.objects.get()
    assert raw.startswith(f"{key.key_id}.") and (key.team, key.user) == (team, alice)
    listing = page.get("/accounts/keys/").content.decode()
    assert raw not in listing and raw.split(".")[1] not in listing
    assert key.masked in listing and "glm-4-flash" in listing
    assert (key.budget_nano, key.budget_period) == (1_500_000_000, "day")
    assert "¥0.0000 of ¥1.5000 a day" in listing and "resets " in listing


def test_a_key_for_an_unknown_model_or_a_past_day_is_refused_in_words(alice, team):
    page = client_for(alice, team)
    response = page.post("/accounts/keys/new/", {"name": "x", "models": "glm-4-flash, gpt-9"})
    assert response.status_code == 400 and "Not chat models in the catalogue: gpt-9." in (
        response.content.decode()
    )
    response = page.post("/accounts/keys/new/", {"name": "x", "expires": "2000-01-01"})
    assert response.status_code == 400 and "cannot be in the past" in response.content.decode()
    assert not ApiKey.objects.exists()


@time_machine.travel("2026-12-01 10:00 +08:00", tick=False)
def test_a_keys_last_day_set_on_the_page_or_by_createkey_lasts_to_its_local_midnight(
    alice, team, capsys
):
    page = client_for(alice, team)
    page.post("/accounts/keys/new/", {"name": "page", "expires": "2026-12-31"})
    call_command("createkey", "alice", "--name", "cli", "--expires", "2026-12-31")
    raw = capsys.readouterr().out.strip()
    for key in ApiKey.objects.all():
        local = timezone.localtime(key.expires_at)  # TIME_ZONE: Asia/Shanghai
        assert (local.date().isoformat(), local.strftime("%H:%M:%S")) == ("2026-12-31", "23:59:59")
    with time_machine.travel("2026-12-31 23:59:59 +08:00"):
        assert key_authenticate(f"Bearer {raw}").key.name == "cli"
    with time_machine.travel("2027-01-01 00:00:01 +08:00"), pytest.raises(KeyRefused):
        key_authenticate(f"Bearer {raw}")


def test_members_see_their_own_keys_and_owners_every_members(alice, bob, team):
    mine, _ = key_create(user=bob, team=team, name="bob's")
    theirs, _ = key_create(user=alice, team=team, name="alice's")
    record(bob, team, model="glm-4.7", prompt=1_000, completion=150, api_key=mine)
    while settlement.usage_settle_pending():
        pass
    bob_page = client_for(bob, team).get("/accounts/keys/").content.decode()
    assert "bob&#x27;s" in bob_page and "alice&#x27;s" not in bob_page
    assert "¥0.0032" in bob_page  # 1,000 in × 2 + 150 out × 8 per million, this month
    owner_page = client_for(alice, team).get("/accounts/keys/").content.decode()
    assert "bob&#x27;s" in owner_page and "alice&#x27;s" in owner_page


def test_a_member_revokes_only_their_own_and_an_owner_anyones(alice, bob, team):
    bobs, _ = key_create(user=bob, team=team, name="bob's")
    alices, _ = key_create(user=alice, team=team, name="alice's")
    bob_client = client_for(bob, team)
    assert bob_client.post(f"/accounts/keys/{alices.id}/revoke/").status_code == 404
    assert bob_client.post(f"/accounts/keys/{bobs.id}/revoke/").status_code == 302
    alices.refresh_from_db()
    assert alices.revoked_at is None
    stranger = get_user_model().objects.create_user("eve")
    assert client_for(stranger).post(f"/accounts/keys/{alices.id}/revoke/").status_code == 404
    assert client_for(alice, team).post(f"/accounts/keys/{alices.id}/revoke/").status_code == 302
    assert ApiKey.objects.filter(revoked_at__isnull=False).count() == 2


def test_a_member_rotates_their_own_key_and_sees_the_new_one_once(alice, bob, team):
    bobs, old = key_create(user=bob, team=team, name="bob's", rpm=10)
    bob_client = client_for(bob, team)
    response = bob_client.post(f"/accounts/keys/{bobs.id}/rotate/", {"grace": "1h"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    page = response.content.decode()
    new = re.search(r'<code class="secret" id="new-key">([^<]+)</code>', page)[1]
    assert new != old and new.split(".")[0] == old.split(".")[0] == bobs.key_id
    assert "the one it replaces works until" in page
    bobs.refresh_from_db()
    assert bobs.rpm == 10 and bobs.last4 == new[-4:]  # the same key, a new secret
    listing = bob_client.get("/accounts/keys/").content.decode()
    assert new not in listing and old not in listing and "old secret until" in listing
    # Nobody else rotates it (the new secret is shown to whoever rotates): not even an owner.
    assert (
        client_for(alice, team)
        .post(f"/accounts/keys/{bobs.id}/rotate/", {"grace": "0"})
        .status_code
        == 404
    )
    assert bob_client.post(f"/accounts/keys/{bobs.id}/rotate/", {"grace": "1y"}).status_code == 302
    bobs.refresh_from_db()
    assert bobs.last4 == new[-4:]


def test_the_dashboard_splits_the_playground_from_each_api_key(alice, bob, team):
    from accounts.models import DailyUsage
    from tests.accounts.conftest import record

    bobs, _ = key_create(user=bob, team=team, name="bob-cron", budget_nano=10**9, rpm=30)
    alices, _ = key_create(user=alice, team=team, name="alice-etl")
    record(bob, team, model="glm-4.7", prompt=1_000, completion=150)  # ¥0.0032, playground
    record(bob, team, model="glm-4.7", prompt=2_000, api_key=bobs)  # ¥0.0040
    record(alice, team, model="glm-4.7", prompt=5_000, completion=150, api_key=alices)  # ¥0.0112
    while settlement.usage_settle_pending():
        pass
    owner = client_for(alice, team)

    def shown(**query) -> tuple[str, str]:
        page = owner.get("/accounts/", query).content.decode()
        total = re.search(r'data-total="(\d+)"', page)[1]
        return total, page

    total, page = shown()
    assert total == "18400000"  # everything: ¥0.0184
    by_source = page[page.index('id="by-source"') :]
    order = [by_source.index(name) for name in ("Playground", "alice-etl", "bob-cron")]
    assert order == sorted(order)  # the playground, then the keys by what they spent
    assert "¥0.0032" in by_source and "¥0.0112" in by_source and "¥0.0040" in by_source
    assert shown(source="playground")[0] == "3200000"
    assert shown(source="api")[0] == "15200000"
    total, page = shown(source=str(bobs.id))
    assert total == "4000000"
    key_panel = page[page.index('id="key-shown"') : page.index('id="totals"')]
    assert "bob-cron" in key_panel and "¥0.0040 of its budget of ¥1.0000 a month" in key_panel
    assert "30 requests a minute" in key_panel
    # A member sees only their own, whichever key the filter names.
    member = client_for(bob, team).get("/accounts/", {"source": str(alices.id)}).content.decode()
    assert 'data-total="0"' in member and 'id="key-shown"' not in member
    month = timezone.localdate().strftime("%Y-%m")
    bill = owner.get(f"/accounts/bills/{month}/").content.decode()
    sources = bill[bill.index('id="bill-sources"') :]
    assert "Playground" in sources and "API · bob-cron" in sources and "¥0.0112" in sources
    keys_page = client_for(bob, team).get("/accounts/keys/").content.decode()
    assert f'href="/accounts/?source={bobs.id}"' in keys_page
    # The rollups keep the key; rebuilt from the ledger when its rows go astray.
    assert settlement.rollups_reconcile()["drifted"] == 0
    DailyUsage.objects.filter(api_key=bobs).update(api_key=alices, calls=9)
    assert settlement.rollups_reconcile()["drifted"] > 0
    assert shown(source=str(bobs.id))[0] == "4000000"


def test_the_keys_page_asks_as_many_queries_for_twenty_budgeted_keys_as_for_three(alice, team):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.accounts.conftest import record

    page = client_for(alice, team)

    def add_keys(count: int) -> None:
        for n in range(count):
            key, _ = key_create(
                user=alice,
                team=team,
                name=f"k{ApiKey.objects.count()}",
                budget_nano=10**9,
                budget_period=("day", "week", "month")[n % 3],
            )
            record(alice, team, prompt=1000, completion=100, api_key=key)  # left unsettled

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert page.get("/accounts/keys/").status_code == 200
        return len(captured)

    add_keys(3)
    three = queries()
    add_keys(17)
    assert queries() == three
    listing = page.get("/accounts/keys/").content.decode()
    assert listing.count("of ¥1.0000 a ") == 20
