"""The web_search tool's fee: BigModel bills each chat call that searched at its engine's price
per call, on top of the tokens (the results it read are input tokens). Held before the call,
settled with it, paid by cash or money packs (never by token packs), and shown apart."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Pack
from accounts.services.holds import WorstCase, hold_place
from accounts.services.wallet import pack_add
from tests.accounts.conftest import record
from tests.accounts.test_tiers import settled
from tests.support import http_client_for, owner_of

pytestmark = pytest.mark.usefixtures("prices")

# Seeded per call that searched: search_std ¥0.01, search_pro ¥0.03, sogou and quark ¥0.05.
# glm-4.7, input [0, 32K) with output [0, 0.2K): 2 / cache 0.4 / 8 per million.


def searched(user, model, prompt, completion, engine):
    """A settled call of ``model`` that searched once with ``engine``."""
    return settled(
        record(
            user,
            model=model,
            prompt=prompt,
            completion=completion,
            search_engine=engine,
            searches=1,
        )
    )


def token_pack(team, **fields):
    now = timezone.now()
    expiry = {"expires_at": now + timedelta(days=1), "effective_at": now - timedelta(days=1)}
    return pack_add(team=team, name="tokens", size=10_000, **expiry, **fields)


@pytest.mark.parametrize(
    ("engine", "fee"),
    [("search_std", 10_000_000), ("search_pro", 30_000_000), ("search_pro_quark", 50_000_000)],
)
def test_a_call_that_searched_pays_its_engines_fee_on_top_of_its_tokens(alice, engine, fee):
    call = searched(alice, "glm-4.7", 1_000, 150, engine)
    tokens = 1_000 * 2_000 + 150 * 8_000  # ¥0.0032
    assert (call.search_nano, call.cost_nano) == (fee, tokens + fee)


def test_a_call_that_did_not_search_pays_no_fee(alice):
    call = settled(record(alice, model="glm-4.7", prompt=1_000, completion=150))
    assert (call.search_nano, call.cost_nano) == (0, 1_000 * 2_000 + 150 * 8_000)


def test_a_free_models_call_still_pays_for_its_search(alice):
    call = searched(alice, "glm-4-flash", 900, 50, "search_std")
    assert call.cost_nano == 10_000_000  # ¥0.01: the tokens are free, the search is not


def test_the_hold_covers_the_search(alice):
    call = WorstCase(
        model="glm-4.7",
        prompt_tokens=1_000,
        completion_tokens=100,
        search_engine="search_pro",
        searches=1,
    )
    hold = hold_place(membership=owner_of(alice.personal_team), request_id="h1", call=call)
    assert hold.amount_nano == 1_000 * 2_000 + 100 * 8_000 + 30_000_000
    assert (hold.search_engine, hold.searches) == ("search_pro", 1)


def test_a_token_pack_pays_the_tokens_and_never_the_search(alice):
    token_pack(alice.personal_team, models=["glm-4.7"])
    call = searched(alice, "glm-4.7", 1_000, 150, "search_pro")
    assert call.packs_nano == 1_000 * 2_000 + 150 * 8_000
    assert call.cash_nano == 30_000_000
    assert Pack.objects.get(name="tokens").remaining == 10_000 - 1_150


def test_the_csv_and_the_pricing_page_show_the_search_apart(alice, live_server_url):
    searched(alice, "glm-4.7", 1_000, 150, "search_pro")
    today = timezone.localdate().isoformat()
    client = http_client_for(alice, live_server_url)
    text = client.get(f"/accounts/usage.csv?start={today}&end={today}").text
    page = client.get("/accounts/pricing/").text
    client.close()
    row, total = list(csv.DictReader(io.StringIO(text)))
    assert row["searches"] == total["searches"] == "1"
    assert row["unit_price"].endswith(" + search_pro 0.03 per search")
    assert row["cost_yuan"] == "0.0332"  # ¥0.0032 of tokens and ¥0.03 of search
    pro = page[page.index(">search_pro<") : page.index("</tbody>", page.index(">search_pro<"))]
    assert "per call that searched" in pro and ">0.03<" in pro and "unconfirmed" in pro


def test_a_free_models_search_leaves_a_token_pack_whole(alice):
    token_pack(alice.personal_team)
    call = searched(alice, "glm-4-flash", 900, 50, "search_std")
    assert (call.packs_nano, call.cash_nano) == (0, 10_000_000)
    assert Pack.objects.get(name="tokens").remaining == 10_000
    assert not call.ledger.filter(pack__isnull=False).exists()
