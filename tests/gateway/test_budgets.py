"""A key's budget per day, week or month (local time): a call that would take the key past it is
refused before anything is sent, calls racing on one key are admitted one at a time, and the
budget comes back when its period rolls over."""

import json
import threading
from datetime import datetime, timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import ApiKey, Hold
from accounts.services.keys import key_create, key_period_spend
from bigmodel.sse import Usage
from bigmodel.usage import Arrived
from gateway import services
from tests.accounts.test_holds import READ_COMMITTED_ONLY

pytestmark = pytest.mark.usefixtures("catalogue")

# glm-4.7 as seeded, input [0, 32K) with output [0, 0.2K): ¥2 in and ¥8 out per million tokens.
BODY = {
    "model": "glm-4.7",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "Hi"}],
}


def at(text: str):
    return timezone.make_aware(datetime.fromisoformat(text))


def admit(raw: str) -> services.Admitted:
    return services.admit(f"Bearer {raw}", json.dumps(BODY).encode())


def test_the_period_starts_and_resets_at_local_midnight_monday_and_the_first(alice):
    key, _ = key_create(user=alice, team=alice.personal_team, name="k")
    moment = at("2026-12-02 15:30")  # a Wednesday
    for period, start, reset in [
        ("day", "2026-12-02 00:00", "2026-12-03 00:00"),
        ("week", "2026-11-30 00:00", "2026-12-07 00:00"),
        ("month", "2026-12-01 00:00", "2027-01-01 00:00"),
    ]:
        key.budget_period = period
        assert (key.period_start(moment), key.next_reset(moment)) == (at(start), at(reset)), period


def test_a_call_past_the_keys_budget_is_refused_and_comes_back_the_next_day(alice):
    # A call's worst case: its prompt at its bound, the message's 33 bytes of JSON
    # ({"role": "user", "content": "Hi"}) and the template's 16 + 64, at ¥2 per million, and all
    # 100 max_tokens at ¥8: 113 × 2,000 + 100 × 8,000 = 1,026,000 nano (¥0.001026). The budget,
    # ¥0.001539 a day, holds one such call and not two.
    _, raw = key_create(
        user=alice,
        team=alice.personal_team,
        name="daily",
        budget_nano=1_539_000,
        budget_period="day",
    )
    with time_machine.travel(at("2026-12-02 10:00"), tick=False):
        first = admit(raw)
        assert Hold.objects.get(request_id=first.request_id).amount_nano == 1_026_000
        with pytest.raises(services.Refused) as refused:
            admit(raw)
        assert (refused.value.status, refused.value.code) == (429, 1113)
        assert (
            "this API key's budget is ¥0.001539 a day; with this call it would reach ¥0.002052 "
            "(it resets 2026-12-03 00:00)"
        ) in refused.value.message
        assert Hold.objects.count() == 1  # the refused call's hold went with it
        services.call_release(first)  # the first call made nothing after all
        second = admit(raw)
        usage = Usage(prompt_tokens=5, completion_tokens=100, total_tokens=105)
        services.chat_record(second, Arrived(usage=usage))
        assert key_period_spend(key=second.caller.key) == 810_000  # recorded, not yet settled
    with time_machine.travel(at("2026-12-03 00:00:01"), tick=False):
        key = ApiKey.objects.get()
        assert key_period_spend(key=key) == 0  # yesterday's call is yesterday's
        admit(raw)
        with pytest.raises(services.Refused):
            admit(raw)


def test_an_api_call_whose_web_process_died_is_billed_once_at_its_worst_case(alice):
    from accounts.models import UsageRecord
    from accounts.services.holds import holds_expire

    key, raw = key_create(user=alice, team=alice.personal_team, name="crashy")
    admitted = admit(raw)  # held, sent upstream, and then the process died: no record
    hold = Hold.objects.get(request_id=admitted.request_id)
    assert holds_expire(now=hold.expires_at - timedelta(seconds=1)) == 0
    assert holds_expire(now=hold.expires_at) == 1
    record = UsageRecord.objects.get()
    assert (record.request_id, record.source, record.api_key_id) == (
        admitted.request_id,
        "api",
        key.id,
    )
    assert record.exact is False
    assert (record.prompt_tokens, record.completion_tokens) == (
        hold.prompt_tokens,
        hold.completion_tokens,
    )
    assert record.completion_tokens == 100  # the body's max_tokens
    assert not Hold.objects.exists() and holds_expire(now=hold.expires_at) == 0
    assert UsageRecord.objects.count() == 1


def test_calls_racing_on_one_key_are_admitted_one_at_a_time(alice, transactional_db):
    made, raw = key_create(user=alice, team=alice.personal_team, name="busy", budget_nano=10**9)
    services.call_release(admit(raw))  # its last use noted: the next one writes nothing to it
    admitted = threading.Event()

    def send() -> None:
        try:
            admit(raw)
            admitted.set()
        finally:
            connection.close()

    caller = threading.Thread(target=send)
    with transaction.atomic():  # another admission of this key, holding it as admit() does
        list(ApiKey.objects.select_for_update(no_key=True).filter(id=made.id))
        caller.start()
        assert not admitted.wait(0.5)  # this one waits its turn
    assert admitted.wait(10)
    caller.join()


def test_a_budget_of_exactly_one_worst_case_admits_that_call_and_refuses_the_next(alice):
    _, raw = key_create(
        user=alice, team=alice.personal_team, name="one", budget_nano=1_026_000, budget_period="day"
    )  # BODY's worst case, as worked out above
    first = admit(raw)
    assert Hold.objects.get(request_id=first.request_id).amount_nano == 1_026_000
    with pytest.raises(services.Refused) as refused:
        admit(raw)
    assert (refused.value.status, refused.value.code) == (429, 1113)
    assert refused.value.message.startswith(services.KEY_BUDGET)  # the key's, not the team's
    assert "余额不足" not in refused.value.message and "请充值" not in refused.value.message


@READ_COMMITTED_ONLY
@pytest.mark.parametrize("after_read", [1, 2, 3])  # its holds, unsettled and settled records
def test_a_keys_call_recorded_while_its_budget_is_read_is_counted_once_at_least(
    alice, transactional_db, after_read
):
    from accounts.services.catalogue import catalogue_spec
    from accounts.services.holds import hold_place
    from accounts.services.keys import key_budget_problem
    from accounts.services.usage import usage_record
    from bigmodel.usage import CallUsage
    from gateway.calls import CHAT
    from tests.support import committed_after_read, owner_of

    key, _ = key_create(
        user=alice, team=alice.personal_team, name="k", budget_nano=1_539_000, budget_period="day"
    )  # one of BODY's worst case (¥0.001026) fits, not two
    spec = catalogue_spec("glm-4.7", CHAT.model_kinds)

    def held(request_id: str) -> None:
        hold_place(
            membership=owner_of(alice.personal_team),
            request_id=request_id,
            call=CHAT.worst_case(spec, BODY),
            source="api",
            api_key_id=key.id,
        )

    def record_first() -> None:
        usage_record(request_id="first", used=CallUsage(prompt_tokens=113, completion_tokens=100))

    held("first")
    with transaction.atomic():
        held("second")
        with committed_after_read(after_read, record_first) as recorded:
            problem = key_budget_problem(key=key)
    assert recorded.is_set() and "this API key's budget is ¥0.001539 a day" in problem
