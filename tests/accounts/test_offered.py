"""Every offered model has a price, or it is not offered: a model of the catalogue is in the
playground's pickers and forms and at the endpoint only while a price row of it is in force (one
whose rates are zero included); staff see on the pricing page which models wait for one."""

import json
from datetime import date, timedelta

import httpx
import pytest
import time_machine
from django.utils import timezone

from accounts.models import Hold, ModelEntry, Price, UsageRecord
from accounts.services.catalogue import PRICES_FILE, catalogue_load, catalogue_spec, prices_load
from accounts.services.keys import key_create
from bigmodel.catalogue import CATALOGUE_FILE, catalogue_entries
from playground.models import ImageGeneration, Message
from tests.accounts.conftest import price_from
from tests.support import http_client_for

# Models added to the catalogue with no price, each a copy of a priced one of its kind.
UNPRICED = {"glm-unpriced": "glm-4-flash", "cogview-unpriced": "cogview-3-plus"}
UNPRICED |= {"embedding-unpriced": "embedding-3"}
NOT_OFFERED = "is not offered: it has no price yet. Pick another model."


def add_unpriced(*names: str) -> None:
    like = {entry["name"]: entry for entry in catalogue_entries()}
    catalogue_load(
        entries=[{**like[UNPRICED[name]], "name": name, "label": name.upper()} for name in names]
    )


def kinds_of(entry: ModelEntry) -> tuple[str]:
    return (entry.kind,)


# --------------------------------------------------------------------- the catalogue as shipped


def test_every_model_the_catalogue_enables_is_offered_at_the_prices_shipped(catalogue):
    # As `make run` loads them; a model left out here has no price in force today.
    left_out = [
        entry.name
        for entry in ModelEntry.objects.filter(enabled=True)
        if catalogue_spec(entry.name, kinds_of(entry)) is None
    ]
    assert left_out == []


def test_every_model_of_the_catalogue_file_has_a_row_in_force_today_in_the_price_file():
    # Read from the two files alone: a row is in force from its date ("from", a day).
    today = timezone.localdate()
    models = json.loads(CATALOGUE_FILE.read_text(encoding="utf-8"))["models"]
    rows = json.loads(PRICES_FILE.read_text(encoding="utf-8"))["prices"]
    priced = {row["model"] for row in rows if date.fromisoformat(row["from"]) <= today}
    assert [m["name"] for m in models if m.get("enabled", True) and m["name"] not in priced] == []


def test_every_row_of_the_price_file_fits_its_columns():
    # SQLite keeps a text longer than its column; PostgreSQL refuses it, and the load with it.
    rows = json.loads(PRICES_FILE.read_text(encoding="utf-8"))["prices"]
    longest = {name: Price._meta.get_field(name).max_length for name in ("model", "source")}
    too_long = [
        (row["model"], name, len(row.get(name, "")))
        for row in rows
        for name, most in longest.items()
        if len(row.get(name, "")) > most
    ]
    assert too_long == []


# --------------------------------------------------------------------------------- the rule


def test_a_model_is_offered_from_the_moment_a_price_row_of_it_is_in_force(catalogue):
    add_unpriced("glm-unpriced")
    assert catalogue_spec("glm-unpriced", ("chat",)) is None
    start = timezone.now() + timedelta(hours=1)
    price_from("glm-unpriced", start, {"input_per_m": "0", "output_per_m": "0"})
    assert catalogue_spec("glm-unpriced", ("chat",)) is None  # not yet in force
    with time_machine.travel(start, tick=False):
        spec = catalogue_spec("glm-unpriced", ("chat",))  # free by its price row: offered
    assert spec is not None and spec.name == "glm-unpriced"


def test_an_image_model_priced_by_size_alone_is_offered(catalogue):
    add_unpriced("cogview-unpriced")
    price_from("cogview-unpriced", timezone.now() - timedelta(days=1), size="1024x1024")
    assert catalogue_spec("cogview-unpriced", ("image",)) is not None


def test_a_priced_model_switched_off_in_the_admin_is_not_offered(catalogue):
    ModelEntry.objects.filter(name="glm-4-flash").update(enabled=False)
    assert catalogue_spec("glm-4-flash", ("chat",)) is None


def test_asking_whether_a_model_is_offered_reads_nothing_while_nothing_changed(
    transactional_db, django_assert_num_queries
):
    catalogue_load()
    prices_load()
    assert catalogue_spec("glm-4-flash", ("chat",)) is not None  # read once, then kept
    with django_assert_num_queries(0):
        assert catalogue_spec("glm-4-flash", ("chat",)) is not None
        assert catalogue_spec("glm-unpriced", ("chat",)) is None


# ------------------------------------------------------------------ where a model is offered


@pytest.fixture
def unpriced(live_server_url):
    add_unpriced(*UNPRICED)
    return live_server_url


def test_a_model_without_a_price_is_not_in_the_playgrounds_picker(unpriced, alice_http):
    page = alice_http.get("/playground/").text
    assert 'value="glm-4-flash"' in page
    assert "glm-unpriced" not in page and "GLM-UNPRICED" not in page  # nor in the models' specs


def test_the_playground_refuses_a_turn_for_a_model_without_a_price_and_sends_nothing(
    unpriced, alice_http, sim_log
):
    response = alice_http.post("/playground/send/", data={"model": "glm-unpriced", "message": "Hi"})
    assert f"“glm-unpriced” {NOT_OFFERED}" in response.text
    assert response.headers["HX-Retarget"] == "#form-errors"  # what was typed stays
    assert not Message.objects.exists() and not Hold.objects.exists()
    assert sim_log.calls("") == []


def test_an_image_model_without_a_price_is_not_on_the_image_page_and_is_refused_there(
    unpriced, alice_http, sim_log
):
    page = alice_http.get("/playground/images/").text
    assert 'value="cogview-3-plus"' in page and "cogview-unpriced" not in page
    response = alice_http.post(
        "/playground/images/", data={"model": "cogview-unpriced", "prompt": "A kite"}
    )
    assert f"“cogview-unpriced” {NOT_OFFERED}" in response.text
    assert not ImageGeneration.objects.exists() and not Hold.objects.exists()
    assert sim_log.calls("") == []


ENDPOINT_CALLS = [
    ("chat/completions", {"model": "glm-unpriced", "messages": [{"role": "user", "content": "x"}]}),
    (
        "async/chat/completions",
        {"model": "glm-unpriced", "messages": [{"role": "user", "content": "x"}]},
    ),
    ("embeddings", {"model": "embedding-unpriced", "input": "Hello"}),
    ("images/generations", {"model": "cogview-unpriced", "prompt": "A kite"}),
]


@pytest.mark.parametrize(("path", "body"), ENDPOINT_CALLS)
def test_the_endpoint_refuses_a_model_without_a_price_as_an_unknown_one_with_no_upstream_call(
    unpriced, make_user, sim_log, path, body
):
    alice = make_user("alice")
    _, raw = key_create(user=alice, team=alice.personal_team, name="scripts")
    response = httpx.post(
        f"{unpriced}/api/paas/v4/{path}", json=body, headers={"Authorization": f"Bearer {raw}"}
    )
    assert (response.status_code, response.json()["error"]["code"]) == (400, "1211")
    assert sim_log.calls("") == []  # no upstream request of any kind
    assert not Hold.objects.exists() and not UsageRecord.objects.exists()


def test_a_model_whose_price_is_taken_away_is_refused_until_it_has_one_again(
    live_server_url, make_user, sim_log
):
    alice = make_user("alice")
    _, raw = key_create(user=alice, team=alice.personal_team, name="scripts")

    def call() -> int:
        return httpx.post(
            f"{live_server_url}/api/paas/v4/chat/completions",
            json={"model": "glm-4-flash", "messages": [{"role": "user", "content": "x"}]},
            headers={"Authorization": f"Bearer {raw}"},
        ).status_code

    Price.objects.filter(model="glm-4-flash").delete()
    assert call() == 400 and sim_log.calls("") == []
    price_from("glm-4-flash", timezone.now() - timedelta(seconds=1), {"input_per_m": "0"})
    assert call() == 200  # free by its price row, and offered at once


def test_staff_see_on_the_pricing_page_the_models_not_offered_for_want_of_a_price(
    unpriced, make_user
):
    staff, member = make_user("root"), make_user("bob")
    staff.is_staff = True
    staff.save()
    client = http_client_for(staff, unpriced)
    page = client.get("/accounts/pricing/").text
    client.close()
    start = page.index('id="not-offered"')
    panel = page[start : page.index("</section>", start)]
    for name in UNPRICED:
        assert f">{name}<" in panel
        assert f'href="/admin/accounts/price/add/?model={name}"' in panel
    assert "not offered: no price" in panel
    assert ">glm-4-flash<" not in panel and ">glm-4.6<" not in panel  # priced: offered
    prices = page[page.index('id="prices"') : start]
    assert ">glm-unpriced<" not in prices and ">glm-4.6<" in prices

    client = http_client_for(member, unpriced)
    page = client.get("/accounts/pricing/").text
    client.close()
    assert 'id="not-offered"' not in page and "glm-unpriced" not in page
