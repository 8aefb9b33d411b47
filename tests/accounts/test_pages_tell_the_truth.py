"""What the accounts pages say is true, and said to whom it concerns: why a call cost more than was
held (following the dashboard's filters, for those who answer for the team's money), a member's own
cap before the team's cash, times labelled with the zone they are in, and who revoked a key and
why."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.utils import timezone

from accounts.models import AlertChannel, AlertSend, ApiKey, Membership, Team, UsageRecord
from accounts.services import settlement
from accounts.services.holds import WorstCase, hold_place
from accounts.services.keys import key_create
from accounts.services.wallet import pack_add, wallet_topup
from playground.models import ImageGeneration
from tests.accounts.conftest import record

pytestmark = pytest.mark.usefixtures("prices")

# glm-4 is ¥100 per million tokens, in and out: 100,000 nano a token. glm-4-air is ¥0.5: 500.
GLM_4, GLM_4_AIR = 100_000, 500


def client_for(user, team=None) -> Client:
    client = Client()
    client.force_login(user)
    if team is not None:
        client.post("/accounts/team/switch/", {"team": team.id})
    return client


def settle_all():
    while settlement.usage_settle_pending():
        pass


@pytest.fixture
def lab(alice, bob):
    """alice owns Lab, bob is a plain member."""
    team = Team.objects.create(name="Lab", billing="postpaid")
    Membership.objects.create(team=team, user=alice, role="owner")
    Membership.objects.create(team=team, user=bob, role="member")
    return team


def over_hold(user, team, *, held: tuple[int, int] | None, held_nano: int, **call) -> UsageRecord:
    """A call whose hold was worked out from ``held`` (prompt, answer) tokens and came to
    ``held_nano``; ``held=None``: a record from before the lengths were kept."""
    made = record(user, team, **call)
    prompt, answer = held if held is not None else (None, None)
    UsageRecord.objects.filter(id=made.id).update(
        held_nano=held_nano, held_prompt_tokens=prompt, held_completion_tokens=answer
    )
    return made


def over_holds_notice(page: str) -> dict[str, str]:
    """The notice's lines by cause ("" for its heading), or {} when there is none."""
    found = re.search(r'<(\w+)[^>]*id="over-holds"[^>]*>(.*?)</\1>', page, re.S)
    if found is None:
        return {}
    notice = found.group(2)
    heading = re.search(r"<p[^>]*>(.*?)</p>", notice, re.S)
    lines = {"": text_of(heading.group(1) if heading else notice)}
    for cause, text in re.findall(r'<li data-cause="(\w+)">(.*?)</li>', notice, re.S):
        lines[cause] = text_of(text)
    return lines


def text_of(html: str) -> str:
    """The words of a piece of a page, as read."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace(" .", ".").strip()


@pytest.fixture
def over_held(lab, alice, bob):
    """Four calls of this month that cost more than was held, each for another reason, and one
    within its hold; bob's through his key, alice's in the playground and through hers."""
    bobs_key, _ = key_create(user=bob, team=lab, name="bob's script")
    alices_key, _ = key_create(user=alice, team=lab, name="alice's script")
    # The prompt came to 1,200 tokens where 1,000 were held: 200 × 100,000 = ¥0.0200 over.
    over_hold(
        bob,
        lab,
        prompt=1200,
        completion=100,
        api_key=bobs_key,
        held=(1000, 100),
        held_nano=1100 * GLM_4,
    )
    # The answer came to 300 tokens where max_tokens held 200: 100 × 100,000 = ¥0.0100 over.
    over_hold(alice, lab, prompt=500, completion=300, held=(500, 200), held_nano=700 * GLM_4)
    # Both: 50 more prompt and 60 more answer tokens: 110 × 100,000 = ¥0.0110 over.
    over_hold(
        alice,
        lab,
        prompt=100,
        completion=100,
        api_key=alices_key,
        held=(50, 40),
        held_nano=90 * GLM_4,
    )
    # A record from before the lengths were kept: 1,000 × 500 = ¥0.0005 cost, ¥0.0003 held.
    over_hold(bob, lab, model="glm-4-air", prompt=1000, held=None, held_nano=300_000)
    # Within its hold: not over.
    over_hold(alice, lab, prompt=10, completion=10, held=(100, 100), held_nano=200 * GLM_4)
    settle_all()
    return bobs_key, alices_key


def test_the_over_holds_notice_says_which_length_the_upstream_passed(over_held, lab, alice):
    page = client_for(alice, lab).get("/accounts/").content.decode()
    # ¥0.0200 + ¥0.0100 + ¥0.0110 + ¥0.0002 = ¥0.0412
    assert over_holds_notice(page) == {
        "": "4 calls cost ¥0.0412 more than was held for them.",
        "prompt": "1 call, ¥0.0200 over: the prompt came to more tokens than its estimate.",
        "answer": "1 call, ¥0.0100 over: the answer was longer than max_tokens allowed.",
        "both": "1 call, ¥0.0110 over: both the prompt and the answer were longer than held.",
        "unknown": "1 call, ¥0.0002 over: recorded before the console kept the lengths each "
        "hold allowed, so which one ran over is not known.",
    }
    assert "max_tokens" not in over_holds_notice(page)["prompt"]


def test_the_over_holds_notice_follows_the_dashboards_filters(over_held, lab, alice, bob):
    bobs_key, alices_key = over_held
    owner = client_for(alice, lab)

    def notice(**filters) -> dict[str, str]:
        return over_holds_notice(owner.get("/accounts/", filters).content.decode())

    assert notice(source=bobs_key.id) == {
        "": "1 call cost ¥0.0200 more than was held for it.",
        "prompt": "1 call, ¥0.0200 over: the prompt came to more tokens than its estimate.",
    }
    assert set(notice(source=alices_key.id)) == {"", "both"}
    assert set(notice(source="playground")) == {"", "answer", "unknown"}
    assert set(notice(member=bob.id)) == {"", "prompt", "unknown"}
    assert set(notice(model="glm-4-air")) == {"", "unknown"}
    tomorrow = timezone.localdate() + timedelta(days=1)
    assert notice(start=tomorrow.isoformat(), end=tomorrow.isoformat()) == {}


def test_the_over_holds_notice_is_for_who_answers_for_the_teams_money(over_held, lab, bob):
    member = client_for(bob, lab).get("/accounts/").content.decode()
    assert 'id="over-holds"' not in member and "more than was held" not in member
    # Site staff see it, for the calls the page shows them (a plain member: their own).
    root = type(bob).objects.create_user("root", is_staff=True)
    Membership.objects.create(team=lab, user=root, role="member")
    over_hold(root, lab, prompt=20, completion=10, held=(10, 10), held_nano=20 * GLM_4)
    settle_all()
    assert over_holds_notice(client_for(root, lab).get("/accounts/").content.decode()) == {
        "": "1 call cost ¥0.0010 more than was held for it.",
        "prompt": "1 call, ¥0.0010 over: the prompt came to more tokens than its estimate.",
    }


def test_a_member_with_a_cap_sees_it_first_with_what_is_spent_and_left(lab, alice, bob):
    member = Membership.objects.get(team=lab, user=bob)
    Membership.objects.filter(id=member.id).update(monthly_cap_nano=1_000_000_000)  # ¥1
    member.refresh_from_db()
    wallet_topup(team=lab, amount_nano=10**12)  # ¥1,000: the team's cash is plenty
    record(bob, lab, prompt=1000, completion=500)  # ¥0.15, settled
    settle_all()
    record(bob, lab, prompt=1000)  # ¥0.10, not settled yet
    hold_place(  # a call in progress, held at its worst case: 200 × 100,000 = ¥0.02
        membership=member,
        request_id="in-progress",
        call=WorstCase(model="glm-4", prompt_tokens=100, completion_tokens=100),
    )
    record(alice, lab, prompt=5000)  # alice's spend is not bob's
    page = client_for(bob, lab).get("/accounts/").content.decode()
    cards = page.split('id="balance"')[1].split("</section>")[0]
    first_card = cards.split('<div class="card')[1]
    assert 'id="my-cap"' in first_card
    # ¥0.15 + ¥0.10 + ¥0.02 = ¥0.27 of ¥1; ¥0.73 left
    assert 'data-left="730000000"' in first_card and "¥0.7300" in first_card
    assert "of ¥1.0000 this month" in first_card
    assert "¥0.2700 spent, calls in progress counted" in first_card
    assert "resets <time" in first_card  # on the 1st, at local midnight
    # The team's cash, and what new calls can draw on: not the team's own forecast and flows.
    assert 'data-cash="999850000000"' in cards  # ¥1,000 − ¥0.15
    assert "days left" not in cards and "day left" not in cards
    assert 'id="held"' not in cards and "Not settled yet" not in cards
    assert "data-available=" in cards
    # The owner, with no cap of their own, sees the team's cards as before and no cap card.
    owners = client_for(alice, lab).get("/accounts/").content.decode()
    assert 'id="my-cap"' not in owners and 'id="held"' in owners and "Not settled yet" in owners
    # ¥999.85 at ¥0.15 a week is 46,659 days: said as what it means.
    assert "More than a year left at the last 7 days' rate" in owners


def test_a_member_without_a_cap_sees_what_they_spent(lab, bob):
    record(bob, lab, prompt=1000, completion=500)  # ¥0.15
    settle_all()
    page = client_for(bob, lab).get("/accounts/").content.decode()
    card = page.split('id="my-spend"')[1].split("</div>")[0]
    assert "¥0.1500" in card and "No monthly cap" in card


def test_a_cap_passed_reads_as_none_left_and_by_how_much(lab, bob):
    Membership.objects.filter(team=lab, user=bob).update(monthly_cap_nano=100_000_000)  # ¥0.10
    record(bob, lab, prompt=1500)  # ¥0.15
    page = client_for(bob, lab).get("/accounts/").content.decode()
    card = page.split('id="my-cap"')[1].split("</div>")[0]
    assert 'data-left="0"' in card and "¥0.0500 over the cap" in card


# 2026-12-07 16:30 UTC is 2026-12-08 00:30 in Asia/Shanghai: a day later on the page than on a
# clock in London.
EVENT = datetime(2026, 12, 7, 16, 30, tzinfo=UTC)
LABEL = (
    '<time datetime="2026-12-08T00:30:00+08:00" '
    'title="Asia/Shanghai time, UTC+08:00 · 2026-12-07 16:30 UTC">2026-12-08 00:30 CST</time>'
)


@time_machine.travel(EVENT, tick=False)
def test_every_time_of_an_event_is_labelled_with_its_zone(lab, alice, settings):
    assert settings.TIME_ZONE == "Asia/Shanghai"
    key, _ = key_create(
        user=alice, team=lab, name="nightly", budget_nano=10**9, budget_period="day"
    )
    ApiKey.objects.filter(id=key.id).update(last_used_at=EVENT)
    pack_add(
        team=lab, name="Q4", size=1000, effective_at=EVENT, expires_at=EVENT + timedelta(days=3)
    )
    staff = type(alice).objects.create_user("root", is_staff=True)
    wallet_topup(team=lab, amount_nano=10**9, by=staff)
    channel = AlertChannel.objects.create(team=lab, kind="email", target="ops@example.com")
    AlertSend.objects.create(
        team=lab, channel=channel, key="k", event="test", subject="s", text="t"
    )
    ImageGeneration.objects.create(
        user=alice, team=lab, model="cogview-3", prompt="A cat", request_id="g", status="failed"
    )
    owner = client_for(alice, lab)

    keys = owner.get("/accounts/keys/").content.decode()
    row = keys.split(f'id="key-{key.id}"')[1].split("</tr>")[0]
    assert row.count(LABEL) == 2  # created, last used
    assert "resets <time" in row and ">2026-12-09 00:00 CST</time>" in row  # local midnight
    dashboard = owner.get("/accounts/", {"source": key.id}).content.decode()
    assert LABEL in dashboard.split('id="key-shown"')[1].split("</section>")[0]  # last used
    assert "Days run from midnight to midnight in Asia/Shanghai (CST)" in dashboard
    balance = dashboard.split('id="balance"')[1].split("</section>")[0]
    assert ">2026-12-11 00:30 CST</time>" in balance  # the pack's expiry
    team = owner.get("/accounts/team/").content.decode()
    packs = team.split("<h2>Packs</h2>")[1]
    assert LABEL in packs and ">2026-12-11 00:30 CST</time>" in packs  # from, expires
    invite = owner.post("/accounts/team/invite/", {"role": "member"}).content.decode()
    assert ">2026-12-15 00:30 CST</time>" in invite  # valid for 7 days
    topups = owner.get("/accounts/topups/").content.decode()
    assert LABEL in topups
    alerts = owner.get("/accounts/alerts/").content.decode()
    assert ">2026-12-08 00:30:00 CST</time>" in alerts.split("<h2>History</h2>")[1]
    images = client_for(alice, lab).get("/playground/images/").content.decode()
    assert LABEL in images


PAGES = Path(settings.BASE_DIR) / "accounts" / "templates" / "accounts"
# Templates someone else keeps (the price list's dates are days a price starts, not events).
NOT_HERE = {"pricing.html", "_price_head.html", "_price_rows.html", "_price_tail.html"}


def test_times_go_through_one_filter_and_dates_are_only_days():
    """A moment is shown by ``when`` alone; ``|date`` is left to days and months (a period's
    start and end, a bill's month), which are whole days in the same zone."""
    templates = [path for path in PAGES.glob("*.html") if path.name not in NOT_HERE]
    templates.append(
        Path(settings.BASE_DIR) / "playground" / "templates" / "playground" / "_image_card.html"
    )
    for path in templates:
        text = path.read_text()
        for value, fmt in re.findall(r"\{\{\s*([\w.]+)\|date:[\"']([^\"']*)[\"']", text):
            assert not re.search(r"[aAbBfgGhHiPsTuU]", fmt), f"{path.name}: {value} at {fmt}"
            assert not value.endswith(("_at", "_until", "reset")), f"{path.name}: {value}"
        assert ".isoformat" not in text, path.name


def test_a_revoked_key_says_when_by_whom_and_why(lab, alice, bob):
    by_hand, _ = key_create(user=bob, team=lab, name="by hand")
    removed, _ = key_create(user=bob, team=lab, name="removed")
    leaked, _ = key_create(user=bob, team=lab, name="leaked")
    ApiKey.objects.filter(id=by_hand.id).update(revoked_at=EVENT, revoked_by=bob)
    ApiKey.objects.filter(id=removed.id).update(
        revoked_at=EVENT, revoked_because="its member was removed from the team"
    )
    ApiKey.objects.filter(id=leaked.id).update(
        revoked_at=EVENT, revoked_by=alice, revoked_because="it was pasted in a public chat"
    )
    owner = client_for(alice, lab)
    keys = owner.get("/accounts/keys/").content.decode()

    def revoked(page: str, key: ApiKey) -> str:
        cell = page.split(f'id="key-{key.id}"')[1].split("</tr>")[0]
        shown = re.search(r'<span class="revoked">(.*?)</span>', cell, re.S)
        assert shown is not None, cell
        return text_of(shown.group(1))

    assert revoked(keys, by_hand) == "Revoked 2026-12-08 00:30 CST by bob."
    assert revoked(keys, removed) == (
        "Revoked 2026-12-08 00:30 CST automatically. Reason: its member was removed from the team"
    )
    assert revoked(keys, leaked) == (
        "Revoked 2026-12-08 00:30 CST by alice. Reason: it was pasted in a public chat"
    )
    # bob sees his own keys the same way, and the dashboard's view of one key says it too.
    assert revoked(client_for(bob, lab).get("/accounts/keys/").content.decode(), leaked) == (
        "Revoked 2026-12-08 00:30 CST by alice. Reason: it was pasted in a public chat"
    )
    dashboard = owner.get("/accounts/", {"source": removed.id}).content.decode()
    shown = dashboard.split('id="key-shown"')[1].split("</section>")[0]
    assert "automatically" in shown and "its member was removed from the team" in shown
    assert "2026-12-08 00:30 CST" in shown
    live = owner.get("/accounts/", {"source": key_create(user=bob, team=lab, name="x")[0].id})
    assert "Revoked" not in live.content.decode().split('id="key-shown"')[1].split("</section>")[0]
