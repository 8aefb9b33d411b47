"""The accounts pages on a 390 px phone, in Chromium: the spend chart opens at today, and a table
cut by the screen shows there is more of it to scroll to (and stops saying so at its end)."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.services import settlement
from accounts.services.keys import key_create
from tests.accounts.conftest import record

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}


def inside(inner: dict, outer: dict) -> bool:
    """Whether one bounding box lies within another, across (a pixel of rounding allowed)."""
    return inner["x"] >= outer["x"] - 1 and inner["x"] + inner["width"] <= (
        outer["x"] + outer["width"] + 1
    )


def test_the_spend_chart_opens_at_today_on_a_phone(page, live_server_url, user):
    today = timezone.localdate()
    record(user, prompt=1000, when=timezone.now() - timedelta(days=25))
    record(user, prompt=2000)
    while settlement.usage_settle_pending():
        pass
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server_url}/accounts/")
    scroller = page.locator(".chart-box .scroll-x")
    bars = scroller.locator("svg.chart rect")
    expect(bars).to_have_count(2)
    newest, oldest = bars.nth(1), bars.nth(0)
    expect(newest.locator("title")).to_have_text(f"{today.isoformat()} · glm-4: ¥0.2000")
    box = scroller.bounding_box()
    assert inside(newest.bounding_box(), box) and not inside(oldest.bounding_box(), box)
    expect(scroller).to_have_attribute("data-more", "left")  # the older days are to the left
    scroller.evaluate("box => { box.scrollLeft = 0; }")
    expect(scroller).to_have_attribute("data-more", "right")
    assert inside(oldest.bounding_box(), scroller.bounding_box())


def test_a_table_cut_by_the_phone_shows_there_is_more_to_scroll(page, live_server_url, user):
    key_create(user=user, team=user.personal_team, name="nightly", budget_nano=10**9)
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server_url}/accounts/keys/")
    scroller = page.locator(".scroll-x:has(#keys)")
    expect(scroller).to_have_attribute("data-more", "right")
    assert "gradient" in scroller.evaluate("box => getComputedStyle(box).maskImage")
    scroller.evaluate("box => { box.scrollLeft = box.scrollWidth / 3; }")
    expect(scroller).to_have_attribute("data-more", "both")
    scroller.evaluate("box => { box.scrollLeft = box.scrollWidth; }")
    expect(scroller).to_have_attribute("data-more", "left")
    # Wide enough for all of it: no hint, nothing faded.
    page.set_viewport_size({"width": 1920, "height": 1080})
    expect(scroller).not_to_have_attribute("data-more", re.compile(".*"))
    assert scroller.evaluate("box => box.scrollWidth <= box.clientWidth")
    assert scroller.evaluate("box => getComputedStyle(box).maskImage") == "none"
