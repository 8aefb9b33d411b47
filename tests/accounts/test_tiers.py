"""Prices as BigModel bills them: bands of input (and output) length, cache hits and thinking,
checked against figures worked out by hand from the seeded price list."""

import csv
import io
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts import bands
from accounts.models import ModelEntry, Pack, UsageRecord
from accounts.services import settlement
from accounts.services.catalogue import catalogue_load
from accounts.services.holds import WorstCase, hold_place
from accounts.services.pricing import rerate
from accounts.services.wallet import pack_add
from bigmodel.catalogue import catalogue_entries
from tests.accounts.conftest import at, price_from, record
from tests.support import http_client_for, owner_of

pytestmark = pytest.mark.usefixtures("prices")

NANO = 10**9


def settled(record_: UsageRecord) -> UsageRecord:
    while settlement.usage_settle_pending():
        pass
    record_.refresh_from_db()
    return record_


def band(prompt=(0, None), completion=(0, None)):
    return SimpleNamespace(
        prompt_from=prompt[0],
        prompt_to=prompt[1],
        completion_from=completion[0],
        completion_to=completion[1],
    )


# glm-4.7 as seeded (¥ per million): input [0, 32K) with output [0, 0.2K): 2 / cache 0.4 / 8;
# input [0, 32K) with output 0.2K+: 3 / 0.6 / 14; input 32K+: 4 / 0.8 / 16.
GLM_47_CASES = [
    # (prompt, of which cached, completion, nano-yuan worked out by hand)
    (1_000, 400, 150, 600 * 2_000 + 400 * 400 + 150 * 8_000),  # ¥0.00256
    (1_000, 0, 199, 1_000 * 2_000 + 199 * 8_000),  # last token of the short-output band
    (1_000, 0, 200, 1_000 * 3_000 + 200 * 14_000),  # first of the long-output band: ¥0.0058
    (31_999, 0, 10, 31_999 * 2_000 + 10 * 8_000),  # last token of the short-input band
    (32_000, 0, 10, 32_000 * 4_000 + 10 * 16_000),  # first of the long-input band: ¥0.12816
    (32_000, 30_000, 5_000, 2_000 * 4_000 + 30_000 * 800 + 5_000 * 16_000),  # cached count too
]


@pytest.mark.parametrize(("prompt", "cached", "completion", "expected"), GLM_47_CASES)
def test_a_call_pays_the_rates_of_the_band_its_lengths_fall_in(
    alice, prompt, cached, completion, expected
):
    usage = settled(
        record(alice, model="glm-4.7", prompt=prompt, cached=cached, completion=completion)
    )
    assert usage.cost_nano == expected


def test_the_record_keeps_the_band_and_the_three_rates_it_was_charged(alice):
    usage = settled(record(alice, model="glm-4.7", prompt=1_000, cached=400, completion=150))
    assert usage.tier == "input 0–32K, output 0–0.2K"
    assert (usage.input_rate, usage.cached_rate, usage.output_rate) == (
        2 * NANO,
        NANO * 4 // 10,
        8 * NANO,
    )
    assert usage.price is not None and usage.price.confirmed is False  # a third-party figure


def test_thinking_tokens_are_output_and_count_toward_the_output_band(alice):
    # 150 tokens of answer after 350 of thinking: 500 output tokens, in the 0.2K+ band.
    thinking = settled(record(alice, model="glm-4.7", prompt=100, completion=500, reasoning=350))
    plain = settled(record(alice, model="glm-4.7", prompt=100, completion=500))
    assert thinking.cost_nano == plain.cost_nano == 100 * 3_000 + 500 * 14_000  # ¥0.0073
    assert thinking.reasoning_tokens == 350


def test_a_cost_is_rounded_once_per_call_to_the_nano_half_up(alice):
    # ¥0.0001 per million uncached tokens is 0.1 nano-yuan a token, ¥0.0005 a cache hit 0.5.
    price_from(
        "glm-4.6",
        timezone.now() - timedelta(days=1),
        {"input_per_m": "0.0001", "cached_per_m": "0.0005", "output_per_m": "0"},
    )
    assert settled(record(alice, model="glm-4.6", prompt=4)).cost_nano == 0  # 0.4
    assert settled(record(alice, model="glm-4.6", prompt=5)).cost_nano == 1  # 0.5, up
    # 1 cache hit (0.5) and 7 uncached (0.7) make 1.2: one nano, not the 1 + 1 of rounding each.
    assert settled(record(alice, model="glm-4.6", prompt=8, cached=1)).cost_nano == 1


def test_a_price_change_mid_month_with_new_bands_prices_each_call_by_its_time(alice):
    before = record(
        alice, model="glm-5", prompt=40_000, completion=1_000, when=at("2026-11-10 09:00")
    )
    price_from(
        "glm-5",
        at("2026-11-15 00:00"),
        {"input_per_m": "3", "cached_per_m": "0.5", "output_per_m": "15", "prompt_to": 64_000},
        {"input_per_m": "5", "cached_per_m": "1", "output_per_m": "20", "prompt_from": 64_000},
    )
    after = record(
        alice, model="glm-5", prompt=40_000, completion=1_000, when=at("2026-11-20 09:00")
    )
    # Before: the seeded 32K+ band, 6 / 22. After: the new [0, 64K) band, 3 / 15.
    assert settled(before).cost_nano == 40_000 * 6_000 + 1_000 * 22_000  # ¥0.262
    assert settled(after).cost_nano == 40_000 * 3_000 + 1_000 * 15_000  # ¥0.135
    assert (before.tier, after.tier) == ("input 32K+", "input 0–64K")

    # Re-rated at the prices in force now (the new row): both calls at 3 / 15.
    period = SimpleNamespace(bounds=lambda: (at("2026-11-01 00:00"), at("2026-12-01 00:00")))
    (line,) = rerate(team=alice.personal_team, period=period)
    assert (line["charged"], line["today"]) == (262_000_000 + 135_000_000, 2 * 135_000_000)


def test_a_hold_is_the_dearest_band_a_call_of_its_size_could_fall_in(alice):
    # Bands where the longer prompt is cheaper: a prompt estimated at 40K that turns out 31,999
    # tokens long must still be covered by what was held.
    price_from(
        "glm-4.6",
        timezone.now() - timedelta(days=1),
        {"input_per_m": "10", "output_per_m": "10", "prompt_to": 32_000},
        {"input_per_m": "1", "output_per_m": "1", "prompt_from": 32_000},
    )
    call = WorstCase(model="glm-4.6", prompt_tokens=40_000, completion_tokens=100)
    hold = hold_place(membership=owner_of(alice.personal_team), request_id="h1", call=call)
    assert hold.amount_nano == 40_100 * 10_000  # at the [0, 32K) band's ¥10, not the ¥1 band
    actual = settled(record(alice, model="glm-4.6", prompt=31_999, completion=100))
    assert actual.cost_nano == 32_099 * 10_000 <= hold.amount_nano


def test_token_packs_pay_uncached_input_then_cache_hits_then_output_each_at_its_rate(alice):
    team = alice.personal_team
    now = timezone.now()
    pack_add(
        team=team,
        name="tokens",
        size=1_000,
        models=["glm-4.7"],
        expires_at=now + timedelta(days=1),
        effective_at=now - timedelta(days=1),
    )
    # 600 uncached + 400 cached take the pack; the 150 output tokens are paid in cash.
    usage = settled(record(alice, model="glm-4.7", prompt=1_000, cached=400, completion=150))
    entries = {
        (entry.pack.name if entry.pack else "cash"): (-entry.amount_nano, entry.tokens)
        for entry in usage.ledger.select_related("pack")
    }
    assert entries == {
        "tokens": (600 * 2_000 + 400 * 400, 1_000),
        "cash": (150 * 8_000, 0),
    }
    assert usage.packs_nano + usage.cash_nano == usage.cost_nano
    assert Pack.objects.get(name="tokens").remaining == 0


def test_the_csv_shows_cached_and_thinking_tokens_the_band_and_its_rates(alice, live_server_url):
    settled(record(alice, model="glm-4.7", prompt=1_000, cached=400, completion=500, reasoning=350))
    today = timezone.localdate().isoformat()
    client = http_client_for(alice, live_server_url)
    text = client.get(f"/accounts/usage.csv?start={today}&end={today}").text
    client.close()
    row, total = list(csv.DictReader(io.StringIO(text)))
    assert (row["prompt_tokens"], row["cached_tokens"]) == ("1000", "400")
    assert (row["completion_tokens"], row["reasoning_tokens"]) == ("500", "350")
    assert row["tier"] == "input 0–32K, output 0.2K+"
    assert row["unit_price"] == "in 3.00 / cache hit 0.60 / out 14.00 per M tokens"
    # 600 × 3 + 400 × 0.6 + 500 × 14 per million = ¥0.00904
    assert row["cost_yuan"] == total["cost_yuan"] == "0.00904"
    assert (total["cached_tokens"], total["reasoning_tokens"]) == ("400", "350")


@pytest.mark.parametrize(
    ("tiers", "problem"),
    [
        ([], "a token price needs at least one tier"),
        ([band((0, 32_000))], "no tier covers input from 32K on"),
        ([band((1_000, None))], "no tier covers input 0–1K"),
        ([band((0, 32_000)), band((16_000, None))], "input 16K+ overlaps the band before it"),
        ([band((0, 32_000)), band((40_000, None))], "no tier covers input 32K–40K"),
        ([band((0, None), (0, 200))], "no tier covers output from 0.2K on"),
        ([band((0, None)), band((0, None))], "output: two tiers have the same band"),
        ([band((32_000, 32_000)), band((0, None))], "32K–32K ends where it starts or before"),
    ],
)
def test_bands_with_a_gap_or_an_overlap_are_refused_with_the_reason(tiers, problem):
    assert problem in bands.problems(tiers)


def test_every_seeded_price_covers_every_length_once():
    # glm-4.7's three tiers, as seeded, and nothing else is said about them.
    assert (
        bands.problems(
            [band((0, 32_000), (0, 200)), band((0, 32_000), (200, None)), band((32_000, None))]
        )
        == []
    )


def test_the_admin_edits_a_price_with_its_tiers_and_refuses_overlapping_bands(
    alice, live_server_url
):
    alice.is_staff = alice.is_superuser = True
    alice.save()
    client = http_client_for(alice, live_server_url)
    token = client.cookies["csrftoken"]

    def post(*tiers):
        data = {
            "csrfmiddlewaretoken": token,
            "model": "glm-4.6",
            "effective_from_0": "2026-12-20",
            "effective_from_1": "00:00:00",
            "per_image": "0",
            "confirmed": "on",
            "tiers-TOTAL_FORMS": str(len(tiers)),
            "tiers-INITIAL_FORMS": "0",
        }
        for i, (prompt_from, prompt_to) in enumerate(tiers):
            data |= {
                f"tiers-{i}-prompt_from": str(prompt_from),
                f"tiers-{i}-prompt_to": "" if prompt_to is None else str(prompt_to),
                f"tiers-{i}-completion_from": "0",
                f"tiers-{i}-input_per_m": "2",
                f"tiers-{i}-cached_per_m": "0.4",
                f"tiers-{i}-output_per_m": "8",
            }
        return client.post("/admin/accounts/price/add/", data=data)

    refused = post((0, 32_000), (16_000, None))
    assert refused.status_code == 200
    assert "Input 16K+ overlaps the band before it." in refused.text
    assert not _glm_46_prices()
    assert post((0, 32_000), (32_000, None)).status_code == 302
    (price,) = _glm_46_prices()
    assert [tier.label for tier in price.tiers.all()] == ["input 0–32K", "input 32K+"]
    client.close()


def _glm_46_prices():
    """The prices of glm-4.6 from the day the admin was given (the seeded one is older)."""
    from accounts.models import Price

    rows = Price.objects.filter(model="glm-4.6", effective_from__gte=at("2026-12-20 00:00"))
    return list(rows.prefetch_related("tiers"))


def test_loadcatalogue_updates_entries_but_keeps_what_an_admin_edited_unless_forced():
    ModelEntry.objects.filter(name="glm-4.7").update(label="GLM-4.7 (team default)")
    changed = [{**entry} for entry in catalogue_entries()]
    for entry in changed:
        if entry["name"] in ("glm-4.7", "glm-5"):
            entry["max_output_tokens"] = 64_000  # as if BigModel lowered both limits
    loaded = catalogue_load(entries=changed)
    assert "glm-4.7" in loaded.kept and "glm-5" in loaded.updated
    assert ModelEntry.objects.get(name="glm-5").as_spec().max_output_tokens == 64_000
    kept = ModelEntry.objects.get(name="glm-4.7")
    assert (kept.label, kept.as_spec().max_output_tokens) == ("GLM-4.7 (team default)", 128_000)

    out = io.StringIO()
    call_command("loadcatalogue", stdout=out)
    assert "Left as edited by hand: glm-4.7" in out.getvalue()
    call_command("loadcatalogue", "--force", stdout=io.StringIO())
    assert ModelEntry.objects.get(name="glm-4.7").label == "GLM-4.7"


def test_the_pricing_page_lists_each_band_and_flags_unconfirmed_figures(alice, live_server_url):
    client = http_client_for(alice, live_server_url)
    page = client.get("/accounts/pricing/").text
    client.close()
    glm_47 = page[page.index(">glm-4.7<") : page.index("</tbody>", page.index(">glm-4.7<"))]
    assert [label in glm_47 for label in ("input 0–32K, output 0–0.2K", "input 32K+")] == [True] * 2
    assert "unconfirmed" in glm_47 and ">0.4<" in glm_47 and ">14<" in glm_47
    glm_53 = page[page.index(">glm-5.3<") : page.index("</tbody>", page.index(">glm-5.3<"))]
    assert "unconfirmed" not in glm_53  # read on BigModel's own price list


def test_the_bill_splits_cache_hits_from_the_prompt_and_thinking_from_the_output(alice):
    from django.test import Client

    settled(record(alice, model="glm-4.7", prompt=1_000, cached=400, completion=500, reasoning=350))
    settled(record(alice, model="glm-4.7", prompt=2_000, cached=1_600, completion=100))
    client = Client()
    client.force_login(alice)
    page = client.get(f"/accounts/bills/{timezone.localdate():%Y-%m}/").content.decode()
    row = page[page.index("<td>glm-4.7</td>") : page.index("</tr>", page.index("<td>glm-4.7</td>"))]
    # calls, prompt, of which cache hits, completion, of which thinking
    assert "<td>2</td><td>3,000</td><td>2,000</td><td>600</td><td>350</td>" in row


def test_an_image_is_priced_by_its_size_and_quality_where_the_list_tells_them_apart(alice):
    # Made-up rows (BigModel prices CogView-4 alike at every quality): ¥0.06 any image, ¥0.08 an
    # hd one, ¥0.10 an hd one at 1440x720.
    start = timezone.now() - timedelta(days=1)
    price_from("cogview-4", start, per_image="0.06", source="any")
    price_from("cogview-4", start, per_image="0.08", quality="hd")
    price_from("cogview-4", start, per_image="0.10", quality="hd", size="1440x720")
    cases = [("1024x1024", "standard", 60), ("1024x1024", "hd", 80), ("1440x720", "hd", 100)]
    for size, quality, fen_tenths in cases:
        made = settled(record(alice, model="cogview-4", images=1, size=size, quality=quality))
        assert made.cost_nano == fen_tenths * 10**6, (size, quality)
    call = WorstCase(model="cogview-4", images=1, size="1440x720", quality="hd")
    hold = hold_place(membership=owner_of(alice.personal_team), request_id="img", call=call)
    assert hold.amount_nano == 100 * 10**6


def test_an_images_own_size_is_priced_before_its_quality_alone(alice):
    # Made-up rows: ¥0.06 any image, ¥0.07 any 1440x720, ¥0.08 any hd one. An hd image at
    # 1440x720 has no row of its own: its size's row applies before its quality's.
    start = timezone.now() - timedelta(days=1)
    price_from("cogview-4", start, per_image="0.06", source="any")
    price_from("cogview-4", start, per_image="0.08", quality="hd")
    price_from("cogview-4", start, per_image="0.07", size="1440x720")
    made = settled(record(alice, model="cogview-4", images=1, size="1440x720", quality="hd"))
    assert made.cost_nano == 70 * 10**6
    call = WorstCase(model="cogview-4", images=1, size="1440x720", quality="hd")
    hold = hold_place(membership=owner_of(alice.personal_team), request_id="img", call=call)
    assert hold.amount_nano == 70 * 10**6
