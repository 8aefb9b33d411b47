"""What the pages say, read as a user would: money as BigModel shows it and the same on every page,
one test alert for one click, names that say which team, admin columns in yuan."""

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from accounts.models import AlertChannel, AlertSend, Team
from accounts.services import settlement
from tests.accounts.conftest import record
from tests.support import http_client_for

pytestmark = pytest.mark.usefixtures("prices")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_sub_fen_spend_reads_the_same_on_the_dashboard_the_bill_and_in_the_csv(
    alice, live_server_url
):
    # glm-4-air is ¥0.0005 per 1K tokens: 5 calls of 231 tokens are 5 × ¥0.0001155 = ¥0.0005775.
    for _ in range(5):
        record(alice, model="glm-4-air", prompt=200, completion=31)
    while settlement.usage_settle_pending():
        pass
    month = timezone.localdate().strftime("%Y-%m")
    dashboard = client_for(alice).get("/accounts/").content.decode()
    bill = client_for(alice).get(f"/accounts/bills/{month}/").content.decode()
    assert "¥0.0005775" in dashboard and "¥0.0005775" in bill
    assert "¥0.0006" not in dashboard and "¥0.00" + "<" not in dashboard  # never rounded away
    assert "-¥0.0005775" in dashboard  # the postpaid cash it left, a debt that reads as one
    today = timezone.localdate().isoformat()
    client = http_client_for(alice, live_server_url)
    rows = list(
        csv.DictReader(
            io.StringIO(client.get(f"/accounts/usage.csv?start={today}&end={today}").text)
        )
    )
    client.close()
    assert rows[-1]["cost_yuan"] == "0.0005775" and {row["cost_yuan"] for row in rows[:-1]} == {
        "0.0001155"
    }


def test_a_test_alert_goes_only_to_the_channel_clicked(alice):
    team = alice.personal_team
    first = AlertChannel.objects.create(team=team, kind="email", target="a@example.com")
    AlertChannel.objects.create(team=team, kind="email", target="b@example.com")
    response = client_for(alice).post(f"/accounts/alerts/channels/{first.id}/test/", follow=True)
    assert list(AlertSend.objects.values_list("channel_id", flat=True)) == [first.id]
    assert "A test alert is on its way to Email: a…@example.com" in response.content.decode()


def test_the_history_names_each_channel(alice):
    team = alice.personal_team
    for label in ("ops on call", "finance"):
        channel = AlertChannel.objects.create(
            team=team,
            kind="webhook",
            label=label,
            target=f"https://hooks.example.com/{label.replace(' ', '-')}/1234",
        )
        AlertSend.objects.create(
            team=team, channel=channel, key=f"k-{label}", event="test", subject="s", text="t"
        )
    page = client_for(alice).get("/accounts/alerts/").content.decode()
    history = page.split("<h2>History</h2>")[1]
    assert "ops on call (Webhook (generic JSON): https://hooks.example.com/…1234)" in history
    assert "finance (Webhook (generic JSON): https://hooks.example.com/…1234)" in history


def test_the_header_calls_ones_own_team_personal(alice):
    lab = Team.objects.create(name="Lab", billing="postpaid")
    lab.memberships.create(user=alice, role="member")
    page = client_for(alice).get("/accounts/").content.decode()
    picker = page.split('id="team-picker"')[1].split("</select>")[0]
    assert (
        ">Personal</option>" in picker
        and ">Lab</option>" in picker
        and ">alice</option>" not in picker
    )


def test_pages_that_go_wrong_say_so_with_a_way_back(alice):
    client = client_for(alice)
    missing = client.get("/accounts/nothing-here/")
    assert missing.status_code == 404 and "Not found" in missing.content.decode()
    assert 'href="/playground/"' in missing.content.decode()
    from django.template.loader import render_to_string

    assert "Back to the playground" in render_to_string("500.html")


def test_the_admin_shows_money_in_yuan_and_keeps_the_ledger_read_only(alice):
    record(alice, prompt=600)
    while settlement.usage_settle_pending():
        pass
    staff = get_user_model().objects.create_superuser("root", password="root-password-1")
    client = client_for(staff)
    usage = client.get("/admin/accounts/usagerecord/").content.decode()
    assert "Cost (¥)" in usage and "0.06" in usage and "60000000" not in usage
    assert "Add usage record" not in usage
    assert client.get("/admin/accounts/usagerecord/add/").status_code == 403
    ledger = client.get("/admin/accounts/ledgerentry/").content.decode()
    assert "Ledger entries" in ledger and "-0.06" in ledger
