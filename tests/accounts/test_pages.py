"""The money pages: who sees what, and that every total equals the ledger."""

import csv
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.test import Client
from django.utils import timezone

from accounts import money
from accounts.models import Invite, LedgerEntry, Membership, Pack, Team, UsageRecord
from accounts.services import settlement
from accounts.services.teams import member_add
from accounts.services.wallet import pack_add, wallet_topup
from tests.accounts.conftest import record
from tests.support import http_client_for, owner_of

pytestmark = pytest.mark.usefixtures("prices")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def settle_all():
    while settlement.usage_settle_pending():
        pass


@pytest.fixture
def shared(alice, bob):
    """alice's team with bob as a member; both have used it."""
    team = alice.personal_team
    member_add(team=team, user=bob, by=owner_of(team))
    record(alice, team, prompt=1000, completion=500)
    record(bob, team, prompt=300, completion=200, model="glm-3-turbo")
    settle_all()
    team.refresh_from_db()
    return team


def test_a_member_sees_the_team_balance_and_only_their_own_usage(shared, alice, bob):
    bob_client = client_for(bob)
    bob_client.post("/accounts/team/switch/", {"team": shared.id})
    page = bob_client.get(
        "/accounts/", {"member": alice.id}
    ).content.decode()  # asking for alice's: ignored
    bob_spend = UsageRecord.objects.get(user=bob).cost_nano
    assert f'data-total="{bob_spend}"' in page
    assert f'data-cash="{shared.cash_nano}"' in page  # the team's balance
    assert "glm-4<" not in page.replace("glm-4-", "")  # alice's model is nowhere
    summary = bob_client.get("/accounts/summary.json").json()
    assert summary["team"] == "alice" and summary["cash_yuan"] == money.exact(shared.cash_nano)

    alice_page = client_for(alice).get("/accounts/").content.decode()
    everyone = UsageRecord.objects.aggregate(total=Sum("cost_nano"))["total"]
    assert (
        f'data-total="{everyone}"' in alice_page and "bob" in alice_page
    )  # managers see every member


def test_exports_add_up_to_the_ledger_and_members_get_only_their_rows(
    shared, alice, bob, live_server_url
):
    today = timezone.localdate().isoformat()
    owner = http_client_for(alice, live_server_url)
    rows = list(
        csv.reader(io.StringIO(owner.get(f"/accounts/usage.csv?start={today}&end={today}").text))
    )
    assert rows[0] == [
        "time",
        "request_id",
        "user",
        "team",
        "model",
        "source",
        "key",
        "prompt_tokens",
        "cached_tokens",
        "completion_tokens",
        "reasoning_tokens",
        "images",
        "searches",
        "exact",
        "tier",
        "unit_price",
        "cost_yuan",
        "paid_from",
    ]
    cost, price, paid = (rows[0].index(name) for name in ("cost_yuan", "unit_price", "paid_from"))
    body, total = rows[1:-1], rows[-1]
    ledger = -LedgerEntry.objects.aggregate(total=Sum("amount_nano"))["total"]
    assert sum(money.to_nano(row[cost]) for row in body) == money.to_nano(total[cost]) == ledger
    assert {row[2] for row in body} == {"alice", "bob"}
    by_user = {row[2]: row for row in body}
    # glm-4: ¥0.1 per 1K tokens is ¥100 per million
    assert by_user["alice"][price] == "100.00 per M tokens"
    assert by_user["alice"][paid].startswith("cash ")
    member = http_client_for(bob, live_server_url)
    member.post("/accounts/team/switch/", data={"team": shared.id})
    mine = list(
        csv.reader(io.StringIO(member.get(f"/accounts/usage.csv?start={today}&end={today}").text))
    )
    assert [row[2] for row in mine[1:-1]] == ["bob"]
    assert member.get("/accounts/usage.csv?start=2026-13-01&end=x").status_code == 400


def test_the_monthly_bill_totals_equal_the_ledger_split_by_packs_and_cash(alice):
    team = alice.personal_team
    now = timezone.now()
    pack_add(
        team=team,
        name="starter",
        size=700,
        expires_at=now + timedelta(days=3),
        effective_at=now - timedelta(1),
    )
    record(alice, prompt=1000, completion=200)  # 700 from the pack, 500 from cash
    settle_all()
    month = timezone.localdate().strftime("%Y-%m")
    page = client_for(alice).get(f"/accounts/bills/{month}/").content.decode()
    assert f'data-total="{120_000_000}"' in page  # ¥0.12
    assert "¥0.07" in page and "¥0.05" in page  # packs and cash
    assert month in client_for(alice).get("/accounts/bills/").content.decode()


def test_the_rerate_preview_prices_a_period_at_todays_prices_without_changing_it(alice):
    from accounts.models import Price

    record(
        alice,
        model="glm-4v",
        prompt=1000,
        when=timezone.make_aware(timezone.datetime(2024, 6, 1, 12)),
    )
    settle_all()
    charged = UsageRecord.objects.get().cost_nano
    assert charged == 100_000_000  # ¥0.1/1K in 2024
    page = (
        client_for(alice)
        .get("/accounts/pricing/", {"start": "2024-06-01", "end": "2024-06-30"})
        .content.decode()
    )
    assert (
        "¥0.10" in page and "¥0.05" in page and "-¥0.05" in page
    )  # glm-4v is ¥0.05/1K since 2025-02
    assert UsageRecord.objects.get().cost_nano == charged
    assert Price.objects.filter(model="glm-4v").count() == 2


def test_cash_is_the_site_staffs_to_add_unless_owners_may(shared, alice, bob, settings):
    bob_client = client_for(bob)
    bob_client.post("/accounts/team/switch/", {"team": shared.id})
    for refused in (
        bob_client.post("/accounts/topups/", {"amount": "10", "method": "bank"}),
        client_for(alice).post("/accounts/topups/", {"amount": "10", "method": "bank"}),
    ):
        assert refused.status_code == 403
        assert "paid with the site&#x27;s BigModel key" in refused.content.decode()
    staff = type(alice).objects.create_user("root", is_staff=True)
    member_add(team=shared, user=staff, by=owner_of(shared))
    staff_client = client_for(staff)
    staff_client.post("/accounts/team/switch/", {"team": shared.id})
    assert (
        staff_client.post(
            "/accounts/topups/", {"amount": "12.34", "method": "alipay", "note": "inv 7"}
        ).status_code
        == 302
    )
    settings.TEAM_OWNERS_MAY_TOP_UP = True
    assert (
        client_for(alice).post("/accounts/topups/", {"amount": "1", "method": "bank"}).status_code
        == 302
    )
    shared.refresh_from_db()
    spent = UsageRecord.objects.aggregate(total=Sum("cost_nano"))["total"]
    assert shared.cash_nano == money.to_nano("13.34") - spent
    assert "inv 7" in client_for(alice).get("/accounts/topups/").content.decode()
    assert (
        client_for(alice).post("/accounts/topups/", {"amount": "1.0000000001"}).status_code == 200
    )  # refused


def test_a_new_team_starts_with_nothing_and_owners_manage_it(alice, bob, settings):
    client = client_for(alice)
    client.post("/accounts/team/new/", {"name": "Lab"})
    lab = Team.objects.get(name="Lab")
    assert (lab.cash_nano, lab.packs.count(), lab.billing) == (0, 0, "postpaid")
    client.post("/accounts/team/add/", {"username": "bob", "role": "member"})
    membership = Membership.objects.get(team=lab, user=bob)
    client.post(f"/accounts/team/members/{membership.id}/", {"role": "admin", "cap": "50"})
    membership.refresh_from_db()
    assert (membership.role, membership.monthly_cap_nano) == ("admin", 50 * 10**9)
    assert (
        client.post("/accounts/team/billing/", {"billing": "prepaid"}).status_code == 403
    )  # the site's call
    settings.TEAM_OWNERS_MAY_TOP_UP = True
    client.post("/accounts/team/billing/", {"billing": "prepaid"})
    lab.refresh_from_db()
    assert lab.billing == "prepaid"
    # An admin cannot remove the owner, and the last owner cannot be demoted.
    bob_client = client_for(bob)
    bob_client.post("/accounts/team/switch/", {"team": lab.id})
    owner = Membership.objects.get(team=lab, user=alice)
    bob_client.post(f"/accounts/team/members/{owner.id}/remove/")
    assert Membership.objects.filter(id=owner.id).exists()
    client.post(f"/accounts/team/members/{owner.id}/", {"role": "member", "cap": ""})
    owner.refresh_from_db()
    assert owner.role == "owner"


def test_an_invite_link_makes_a_new_member_once(alice):
    client = client_for(alice)
    page = client.post("/accounts/team/invite/", {"role": "member"}).content.decode()
    link = page.split('id="invite-link"')[1].split("<code>")[1].split("</code>")[0]
    path = link.split("testserver")[1]
    assert Invite.objects.get().token_digest not in link  # only the digest is stored
    newcomer = Client()
    response = newcomer.post(path, {"username": "carol", "password": "a-long-passphrase-9"})
    assert response.status_code == 302
    assert Membership.objects.filter(
        team=alice.personal_team, user__username="carol", role="member"
    ).exists()
    assert Team.objects.filter(personal_for__username="carol").exists()  # and her own team
    again = (
        Client()
        .post(path, {"username": "dave", "password": "a-long-passphrase-9"})
        .content.decode()
    )
    assert "does not work" in again


def test_the_commands_top_up_and_add_packs(alice):
    out = io.StringIO()
    call_command("topup", "alice", "100", "--note", "invoice 42", stdout=out)
    assert "cash is now ¥100.0000." in out.getvalue()
    call_command(
        "addpack",
        "alice",
        "--tokens",
        "1000000",
        "--models",
        "glm-4,glm-4v",
        "--expires",
        "2027-01-31",
        "--name",
        "Q1",
        stdout=out,
    )
    pack = Pack.objects.get()
    assert (pack.name, pack.size, pack.remaining, pack.models_scope) == (
        "Q1",
        10**6,
        10**6,
        ["glm-4", "glm-4v"],
    )
    assert timezone.localtime(pack.expires_at).strftime("%Y-%m-%d %H:%M") == "2027-01-31 23:59"
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Not in the catalogue: glm-9"):
        call_command(
            "addpack", "alice", "--tokens", "5", "--models", "glm-9", "--expires", "2027-01-31"
        )
    with pytest.raises(CommandError, match="No team"):
        call_command("topup", "nobody", "1")


def test_a_pack_expiring_soon_is_told_once(alice):
    from accounts.models import AlertChannel, AlertSend
    from accounts.services.alerts import pack_expiry_alerts

    team = alice.personal_team
    AlertChannel.objects.create(team=team, kind="email", target="ops@example.com")
    pack_add(team=team, name="soon", size=100, expires_at=timezone.now() + timedelta(days=2))
    pack_add(team=team, name="later", size=100, expires_at=timezone.now() + timedelta(days=60))
    assert pack_expiry_alerts() == 1
    assert pack_expiry_alerts() == 0
    assert "soon" in AlertSend.objects.get().subject


def test_summary_money_is_decimal_strings(alice):
    wallet_topup(team=alice.personal_team, amount_nano=money.to_nano("3.5"))
    summary = client_for(alice).get("/accounts/summary.json").json()
    assert summary["cash_yuan"] == "3.50" and isinstance(summary["month_spend_yuan"], str)
    assert set(summary) >= {
        "team",
        "cash_yuan",
        "packs",
        "month_spend_yuan",
        "unsettled_yuan",
        "days_left",
    }
