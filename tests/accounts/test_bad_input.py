"""Bad input and abuse get a clear refusal: webhook addresses that point inside, spreadsheet
formulas in exports, odd usernames, periods out of range."""

import csv
import io
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client

from accounts.models import AlertChannel, AlertSend, Team, TopUp
from accounts.services import alerts, settlement
from accounts.services.wallet import wallet_topup
from accounts.webhooks import WebhookFailed, WebhookRefused, webhook_post, webhook_target
from tests.accounts.conftest import Receiver, record
from tests.support import free_port, http_client_for

pytestmark = pytest.mark.usefixtures("prices")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def public_only(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False


@pytest.mark.parametrize(
    "url, words",
    [
        ("http://example.com/hook", "https://"),
        ("ftp://example.com/hook", "https://"),
        ("https:///no-host", "https://"),
        ("https://127.0.0.1/hook", "not on the public internet"),
        ("https://localhost:8443/hook", "not on the public internet"),
        ("https://[::1]/hook", "not on the public internet"),
        ("https://10.1.2.3/hook", "not on the public internet"),
        ("https://172.16.0.9/hook", "not on the public internet"),
        ("https://192.168.1.20/hook", "not on the public internet"),
        ("https://100.64.0.1/hook", "not on the public internet"),
        ("https://169.254.169.254/latest/meta-data/", "not on the public internet"),
        ("https://[fd00:ec2::254]/", "not on the public internet"),
        ("https://224.0.0.251/hook", "not on the public internet"),
        ("https://0.0.0.0/hook", "not on the public internet"),
        ("https://[::ffff:127.0.0.1]/hook", "not on the public internet"),
        ("https://no-such-host.invalid/hook", "could not be found"),
    ],
)
def test_webhook_addresses_inside_or_not_https_are_refused(public_only, alice, url, words):
    with pytest.raises(WebhookRefused, match=words):
        webhook_target(url)
    page = client_for(alice).post(
        "/accounts/alerts/channels/", {"kind": "webhook", "target": url}, follow=True
    )
    assert words in page.content.decode() and not AlertChannel.objects.exists()


def test_a_public_address_is_pinned_and_keeps_its_name(public_only, monkeypatch):
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda host, port, **kw: [(2, 1, 6, "", ("93.184.216.34", port))]
    )
    target = webhook_target("https://hooks.example.com:8443/path?key=1")
    assert target.url == "https://93.184.216.34:8443/path?key=1"
    assert (target.host, target.host_header) == ("hooks.example.com", "hooks.example.com:8443")


def test_the_request_goes_to_the_address_checked_not_a_second_lookup(
    settings, monkeypatch, receiver
):
    """A name that resolves to a checked address once and elsewhere the next time (DNS rebinding)
    is called once, at the first: there is no second lookup."""
    answers = iter(["127.0.0.1", "10.9.9.9"])
    asked = []

    def resolve(host, port, *args, **kwargs):
        asked.append(host)
        address = host if host[0].isdigit() else next(answers)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    port = receiver.server.server_port
    webhook_post(f"http://rebind.test:{port}/hook", {"hello": 1})
    assert receiver.received == [("/hook", {"hello": 1})]
    assert asked.count("rebind.test") == 1


def test_redirects_are_not_followed_and_failures_are_told_in_general_words(settings):
    target = Receiver()
    try:

        class Moved(BaseHTTPRequestHandler):
            def do_POST(self):
                self.send_response(307)
                self.send_header("Location", target.url("/inside"))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        moved = ThreadingHTTPServer(("127.0.0.1", 0), Moved)
        threading.Thread(target=moved.serve_forever, daemon=True).start()
        with pytest.raises(WebhookFailed, match="the webhook answered HTTP 307"):
            webhook_post(f"http://127.0.0.1:{moved.server_port}/hook", {})
        assert target.received == []
        moved.shutdown()
    finally:
        target.close()
    with pytest.raises(WebhookFailed) as failed:
        webhook_post(f"http://127.0.0.1:{free_port()}/hook", {})  # nothing listens there
    assert str(failed.value) == "could not reach the webhook: no connection"


def test_a_channel_allowed_once_is_checked_again_when_it_is_used(alice, settings, receiver):
    channel = AlertChannel.objects.create(
        team=alice.personal_team, kind="webhook", target=receiver.url("/")
    )
    send = alerts.alert_test(channel=channel)
    settings.WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(alerts.DeliveryFailed, match="starts with https://"):
        alerts.alert_deliver(send_id=send.id)
    assert receiver.received == []
    assert "https://" in AlertSend.objects.get(id=send.id).last_error


def test_members_see_no_channels_and_managers_see_them_masked(alice, bob):
    team = alice.personal_team
    from accounts.services.teams import member_add
    from tests.support import owner_of

    member_add(team=team, user=bob, by=owner_of(team))
    AlertChannel.objects.create(
        team=team,
        kind="feishu",
        target="https://open.feishu.cn/open-apis/bot/v2/hook/SECRET-TOKEN-abcd",
    )
    AlertChannel.objects.create(team=team, kind="email", target="ops@example.com")
    owner = client_for(alice).get("/accounts/alerts/").content.decode()
    assert (
        "https://open.feishu.cn/…abcd" in owner
        and "o…@example.com" in owner
        and "SECRET-TOKEN" not in owner
    )
    member = client_for(bob)
    member.post("/accounts/team/switch/", {"team": team.id})
    page = member.get("/accounts/alerts/").content.decode()
    assert 'id="channels"' not in page and "feishu.cn" not in page and "example.com" not in page


def test_exports_neutralise_cells_a_spreadsheet_would_run(alice, live_server_url):
    team = alice.personal_team
    Team.objects.filter(id=team.id).update(name='=HYPERLINK("http://evil")')
    alice.username = "@SUM(1+1)"
    alice.save()
    record(alice, prompt=10)
    while settlement.usage_settle_pending():
        pass
    wallet_topup(team=team, amount_nano=10**9, note="+cmd|' /C calc'!A0")
    TopUp.objects.create(team=team, amount_nano=1, note="\tleading tab")
    client = http_client_for(alice, live_server_url)
    from django.utils import timezone

    today = timezone.localdate().isoformat()
    usage = list(
        csv.reader(io.StringIO(client.get(f"/accounts/usage.csv?start={today}&end={today}").text))
    )
    topups = list(csv.reader(io.StringIO(client.get("/accounts/topups.csv").text)))
    client.close()
    assert usage[1][2] == "'@SUM(1+1)" and usage[1][3] == '\'=HYPERLINK("http://evil")'
    notes = {row[4] for row in topups[1:-1]}
    assert notes == {"'+cmd|' /C calc'!A0", "'\tleading tab"}
    for row in usage + topups:
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)


@pytest.mark.parametrize("username", ["=cmd", "bad name", "a/b", "<script>"])
def test_an_invite_takes_only_usernames_django_allows(alice, username):
    page = client_for(alice).post("/accounts/team/invite/", {"role": "member"}).content.decode()
    path = (
        page.split('id="invite-link"')[1]
        .split("<code>")[1]
        .split("</code>")[0]
        .split("testserver")[1]
    )
    response = Client().post(path, {"username": username, "password": "a-long-passphrase-9"})
    assert response.status_code == 200
    assert (
        "may contain only letters, numbers, and @/./+/-/_ characters" in response.content.decode()
    )
    assert not type(alice).objects.filter(username=username).exists()


@pytest.mark.parametrize(
    "query, words",
    [
        ("start=1999-12-31&end=2000-01-05", "Dates go from 2000-01-01 to 2100-12-31."),
        ("start=2026-01-01&end=2101-01-01", "Dates go from 2000-01-01 to 2100-12-31."),
        ("start=2026-03-02&end=2026-03-01", "The start comes after the end."),
        ("start=2024-01-01&end=2025-01-01", "Pick at most 366 days at a time."),
        ("start=0001-01-01&end=9999-12-31", "Dates go from 2000-01-01 to 2100-12-31."),
        ("start=2026-13-01&end=2026-01-01", "start must be a date, YYYY-MM-DD."),
    ],
)
def test_periods_out_of_range_are_a_400_with_the_reason_everywhere(
    alice, live_server_url, query, words
):
    staff = type(alice).objects.create_user("root", is_staff=True)
    client = client_for(staff)
    for path in ("/accounts/", "/accounts/pricing/", "/accounts/site/"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400 and words in response.content.decode(), path
    csv_client = http_client_for(staff, live_server_url)
    response = csv_client.get(f"/accounts/usage.csv?{query}")
    csv_client.close()
    assert response.status_code == 400 and words in response.text


def test_a_period_of_exactly_366_days_is_accepted(alice):
    assert client_for(alice).get("/accounts/?start=2024-01-01&end=2024-12-31").status_code == 200


@pytest.mark.parametrize("month", ["1999-12", "2101-01", "2026-13", "nonsense", "9999-01"])
def test_a_bill_for_a_month_out_of_range_is_a_400_with_the_reason(alice, month):
    response = client_for(alice).get(f"/accounts/bills/{month}/")
    assert (
        response.status_code == 400
        and "is not a month from 2000-01 to 2100-12" in response.content.decode()
    )
