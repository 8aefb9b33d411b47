"""The pages people live in, in Chromium at a phone's width, a laptop's and a desktop's: nothing
wider than the screen, the composer in view beside a long conversation, replies rendered as they
stream, changes confirmed where they were made. (Every test here also fails on any console
error.)"""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import AlertChannel, AlertRule, Membership, Team, UsageRecord
from accounts.services import settlement
from tests.e2e.conftest import log_in
from tests.e2e.test_playground_chat import last_reply, send

pytestmark = pytest.mark.e2e

SIZES = [(375, 740), (1366, 900), (1920, 1080)]


@pytest.fixture
def lead(transactional_db, live_server_url):
    """A site admin who owns a team with a month of usage, members, alerts and a long
    conversation."""
    User = get_user_model()
    lead = User.objects.create_user("lead", password="lead-password-1", is_staff=True)
    member = User.objects.create_user("member-with-a-long-name")
    team = Team.objects.create(
        name="Research and development", billing="prepaid", cash_nano=50 * 10**9
    )
    Membership.objects.create(team=team, user=lead, role="owner")
    Membership.objects.create(team=team, user=member, role="member", monthly_cap_nano=5 * 10**9)
    now = timezone.now()
    models = [
        "glm-4-plus",
        "glm-4-air",
        "glm-4v-plus",
        "cogview-3-plus",
        "glm-3-turbo",
        "glm-4v",
        "charglm-3",
    ]
    for n in range(60):
        model = models[n % len(models)]
        images = 1 if model.startswith("cogview") else 0
        UsageRecord.objects.create(
            request_id=f"page-{n}",
            user=(lead, member)[n % 2],
            team=team,
            model=model,
            prompt_tokens=0 if images else 100 + 37 * n,
            completion_tokens=0 if images else 90,
            images=images,
            size="1024x1024" if images else "",
            created_at=now - timedelta(days=n % 28, hours=n % 5),
        )
    while settlement.usage_settle_pending():
        pass
    AlertRule.objects.create(team=team, threshold_nano=10 * 10**9)
    AlertChannel.objects.create(
        team=team,
        kind="feishu",
        label="ops on call",
        target="https://open.feishu.cn/open-apis/bot/v2/hook/0123456789abcdef",
    )
    return lead, team


def open_as(page, live_server_url, user, team):
    log_in(page, live_server_url, user.username, f"{user.username}-password-1")
    with page.expect_navigation():
        page.select_option("#team-picker", str(team.id))  # the picker submits itself


def long_conversation(page, turns=3) -> str:
    page.select_option("#id_model", "glm-4-flash")
    for n in range(turns):
        send(page, f"Tell me more, part {n} [[long]]")
        expect(last_reply(page)).not_to_have_class("message assistant live", timeout=20000)
        expect(page.locator("#transcript .message.assistant")).to_have_count(n + 1)
    return page.url


def test_no_page_is_wider_than_the_screen(context, live_server_url, lead, console_errors):
    user, team = lead
    page = context.new_page()
    open_as(page, live_server_url, user, team)
    conversation = long_conversation(page, turns=1)
    # A function call's card and its results form are in the conversation too.
    page.click("#tools-example")
    send(page, "Use get_weather for Paris")
    expect(page.locator(".tool-answer textarea")).to_be_visible()
    from accounts.services.keys import key_create

    key, _ = key_create(  # a long name in the dashboard's source filter and the keys table
        user=user, team=team, name="nightly-warehouse-export-of-every-region", budget_nano=10**9
    )
    month = timezone.localdate().strftime("%Y-%m")
    paths = [
        f"/accounts/?source={key.id}",
        "/playground/",
        conversation,
        "/playground/images/",
        "/accounts/",
        "/accounts/bills/",
        f"/accounts/bills/{month}/",
        "/accounts/pricing/",
        "/accounts/topups/",
        "/accounts/team/",
        "/accounts/alerts/",
        "/accounts/keys/",
        "/accounts/site/",
        "/nowhere/",
    ]
    wide = []
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        for path in paths:
            page.goto(live_server_url + path if path.startswith("/") else path)
            scroll_width = page.evaluate("document.documentElement.scrollWidth")
            if scroll_width > width:
                wide.append((width, path, scroll_width))
    assert wide == []
    # The one error expected: the browser reports the not-found page's own 404.
    console_errors[:] = [
        error for error in console_errors if "/nowhere/: Failed to load resource" not in error
    ]


def test_the_login_page_keeps_its_width_when_it_says_no(context, live_server_url, transactional_db):
    page = context.new_page()
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(f"{live_server_url}/accounts/login/")
    before = page.locator("main.narrow").bounding_box()["width"]
    page.fill("input[name=username]", "nobody")
    page.fill("input[name=password]", "wrong-password")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_be_visible()
    assert page.locator("main.narrow").bounding_box()["width"] == before
    assert page.evaluate("document.documentElement.scrollWidth") <= 375


@pytest.mark.parametrize(("width", "height"), [(375, 740), (1366, 900)])
def test_a_long_conversation_keeps_the_composer_and_its_end_in_view(
    page, live_server_url, width, height
):
    page.set_viewport_size({"width": width, "height": height})
    conversation = long_conversation(page)
    page.goto(conversation)  # a reload lands at the end
    viewport_height = page.evaluate("window.innerHeight")
    assert (
        page.evaluate("document.documentElement.scrollHeight") <= viewport_height
    )  # the page does not grow
    send_button = page.locator("#send").bounding_box()
    assert 0 <= send_button["y"] and send_button["y"] + send_button["height"] <= viewport_height
    transcript = page.locator("#transcript")
    expect(transcript).to_have_js_property(
        "scrollTop", transcript.evaluate("t => t.scrollHeight - t.clientHeight")
    )
    last = last_reply(page).bounding_box()
    box = transcript.bounding_box()
    assert last["y"] + last["height"] <= box["y"] + box["height"] + 1

    # Scrolled up, new content does not pull the reader down; a button brings them back.
    transcript.evaluate("t => { t.scrollTop = 0; t.dispatchEvent(new Event('scroll')); }")
    send(page, "Once more [[long]] [[fault:latency=10]]")
    expect(page.locator("#jump-latest")).to_be_visible()
    assert transcript.evaluate("t => t.scrollTop") < 100
    page.click("#jump-latest")
    expect(page.locator("#jump-latest")).to_be_hidden()
    assert transcript.evaluate("t => t.scrollHeight - t.scrollTop - t.clientHeight") < 80


def test_a_reply_is_markdown_while_it_streams_and_the_same_when_it_ends(page, live_server_url):
    page.select_option("#id_model", "glm-4-flash")
    send(page, "Format this nicely [[long]] [[fault:latency=10]]")
    live = page.locator("#transcript .message.assistant.live .body")
    expect(live.locator("strong").first).to_be_attached()  # rendered, not raw **markdown**
    expect(live.locator("p").nth(1)).to_be_attached()  # paragraphs, not one run of text
    assert "**" not in live.inner_text()
    expect(last_reply(page)).not_to_have_class("message assistant live", timeout=30000)
    final = last_reply(page).locator(".body")
    expect(final.locator("strong").first).to_be_attached()


def test_a_phones_drawers_hold_the_conversations_and_the_settings(page, live_server_url):
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(f"{live_server_url}/playground/")
    expect(page.locator("#params")).not_to_be_in_viewport()
    page.click(".chat-bar [data-drawer=params]")
    expect(page.locator("#id_model")).to_be_in_viewport()
    page.click("[data-drawer-close]", position={"x": 10, "y": 300})
    expect(page.locator("#params")).not_to_be_in_viewport()
    page.click(".chat-bar [data-drawer=side]")
    expect(page.locator("#sidebar .new-chat")).to_be_in_viewport()
    page.click("[data-drawer-close]", position={"x": 360, "y": 300})
    page.click("#topbar [data-menu-toggle]")
    expect(page.locator("#topbar nav a", has_text="Usage")).to_be_visible()


def test_a_cap_saved_on_the_team_page_says_so_in_its_row(context, live_server_url, lead):
    user, team = lead
    page = context.new_page()
    open_as(page, live_server_url, user, team)
    page.goto(f"{live_server_url}/accounts/team/")
    member = Membership.objects.get(team=team, role="member")
    row = page.locator(f"#member-{member.id}")
    expect(row).to_contain_text("¥")  # spend this month against the cap
    row.locator("input[name=cap]").fill("lots")
    row.locator("button", has_text="Save").click()
    expect(page.locator(f"#member-{member.id} .field-error")).to_contain_text(
        "member-with-a-long-name's monthly cap:"
    )
    page.locator(f"#member-{member.id} input[name=cap]").fill("7.5")
    page.locator(f"#member-{member.id} button", has_text="Save").click()
    expect(page.locator(f"#member-{member.id} .saved")).to_have_text(
        "Saved: member, cap ¥7.5000 a month"
    )
    member.refresh_from_db()
    assert member.monthly_cap_nano == 7_500_000_000
