"""Money in Chromium: a reply's cost appears without a reload; the dashboard draws its charts."""

import pytest
from playwright.sync_api import expect

from accounts import money
from accounts.models import UsageRecord
from tests.e2e.test_playground_chat import last_reply, send

pytestmark = pytest.mark.e2e


def test_a_replys_cost_is_pushed_to_the_page(page, live_server_url, celery_worker):
    page.select_option("#id_model", "glm-4")
    send(page, "How much is this?")
    expect(last_reply(page)).to_have_attribute("data-status", "done")
    stats = last_reply(page).locator("footer.stats")
    expect(stats).to_contain_text("¥", timeout=20000)  # no reload: pushed when settled
    record = UsageRecord.objects.get()
    expect(stats).to_contain_text(f"{money.yuan(record.cost_nano)}")
    assert record.status == "settled" and record.cost_nano > 0


def test_the_dashboard_shows_balance_spend_and_charts(page, live_server_url, celery_worker):
    page.select_option("#id_model", "glm-4")
    send(page, "Spend a little")
    expect(last_reply(page).locator("footer.stats")).to_contain_text("¥", timeout=20000)
    page.goto(f"{live_server_url}/accounts/")
    expect(page.locator("#balance")).to_contain_text("Cash")
    expect(page.locator("svg.chart rect").first).to_be_attached()
    record = UsageRecord.objects.get()
    expect(page.locator("#totals [data-total]")).to_have_attribute(
        "data-total", str(record.cost_nano)
    )
    expect(page.locator("#team-picker")).to_have_value(str(record.team_id))
