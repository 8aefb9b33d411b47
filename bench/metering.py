"""Metering: usage records settled per second by one Celery worker, and the dashboard's response
time with a million usage records in the database, on SQLite and (with --postgres) PostgreSQL.

    .venv/bin/python bench/metering.py [--records N] [--rows N] [--postgres] [--keep]

Each database gets its own temp dir, Redis, worker and uvicorn web process. Part 1 writes N
unsettled records (20 members, 4 priced models, packs to split across) and asks for settlement
the way the request path does (one request per record, coalesced), then times one worker until
every record is settled; it checks the ledger adds up. Part 2 loads `--rows` settled records
spread over 90 days with their daily rollups, then times GET /accounts/ (and summary.json) as
the team's owner. Targets: at least 2,000 records settled per second; dashboard p95 under 200
ms."""

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
from _harness import ROOT, Stack, free_port, pct  # noqa: E402

# Nano-yuan per token of each seed price (one rate for every length, input = output).
MODELS = [
    ("glm-4", 100_000, 100_000),
    ("glm-4-plus", 5_000, 5_000),
    ("glm-3-turbo", 1_000, 1_000),
    ("glm-4v", 50_000, 50_000),
]
PER_MILLION = 10**6
MEMBERS = 20

SETUP = """
import sys, time
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.utils import timezone
from accounts.models import Membership, Team
from accounts.services.teams import member_add
from accounts.services.wallet import pack_add, wallet_topup
owner = get_user_model().objects.get(username="bench")
team = owner.personal_team
owner_membership = Membership.objects.get(team=team, user=owner)
for i in range(1, {members}):
    member = get_user_model().objects.create_user(f"member{{i}}")
    member_add(team=team, user=member, by=owner_membership)
wallet_topup(team=team, amount_nano=10**12)
now = timezone.now()
pack_add(team=team, name="glm-4 pack", size=5_000_000, models=["glm-4"],
         expires_at=now + timedelta(days=30),
         effective_at=now - timedelta(days=400))
pack_add(team=team, name="voucher", size=10**9, unit="money", expires_at=now + timedelta(days=60),
         effective_at=now -
timedelta(days=400))"""


def django_in_process(stack: Stack):
    """Use the stack's database from this process (to load data and check results)."""
    os.environ.update({key: value for key, value in stack.env.items()})
    import django

    django.setup()


def write_unsettled(count: int) -> list[int]:
    from django.contrib.auth import get_user_model

    from accounts.models import Team, UsageRecord

    team = Team.objects.get(personal_for__username="bench")
    users = list(get_user_model().objects.filter(memberships__team=team).order_by("id"))
    rng = random.Random(7)
    records = [
        UsageRecord(
            request_id=f"settle-{n}",
            user=users[n % len(users)],
            team=team,
            model=MODELS[n % len(MODELS)][0],
            prompt_tokens=rng.randint(10, 3000),
            completion_tokens=rng.randint(0, 1500),
        )
        for n in range(count)
    ]
    UsageRecord.objects.bulk_create(records, batch_size=2000)
    return [record.id for record in records]


def measure_settlement(stack: Stack, count: int) -> dict:
    from django.db.models import Sum

    from accounts import queue
    from accounts.models import LedgerEntry, Team, UsageRecord

    write_unsettled(count)
    worker = stack.spawn_worker()
    time.sleep(4)  # the worker is up and idle
    started = time.perf_counter()
    for _ in range(count):  # what each committed record does in the request path
        queue.settlement()
    asked = time.perf_counter() - started
    while UsageRecord.objects.filter(status="unsettled").exists():
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    os.kill(worker.pid, signal.SIGTERM)
    worker.wait(30)
    cost = UsageRecord.objects.aggregate(total=Sum("cost_nano"))["total"]
    usage = LedgerEntry.objects.filter(kind="usage")
    paid = -usage.aggregate(total=Sum("amount_nano"))["total"]
    team = Team.objects.get(personal_for__username="bench")
    cash = -usage.filter(pack=None).aggregate(total=Sum("amount_nano"))["total"]
    return {
        "count": count,
        "elapsed": elapsed,
        "asked": asked,
        "rate": count / elapsed,
        "adds_up": cost == paid and team.cash_nano == 10**12 - cash,
    }


def load_history(rows: int) -> dict:
    """``rows`` settled records over 90 days written straight to the table, then the rollups rebuilt
    from them by the reconcile job."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from accounts.models import Team, UsageRecord
    from accounts.services import settlement
    from accounts.services.pricing import price_in_force

    started = time.perf_counter()
    team = Team.objects.get(personal_for__username="bench")
    user_ids = list(
        get_user_model().objects.filter(memberships__team=team).values_list("id", flat=True)
    )
    rng, now = random.Random(11), timezone.now()
    meta = UsageRecord._meta
    fields = [
        "request_id",
        "created_at",
        "user_id",
        "team_id",
        "model",
        "source",
        "prompt_tokens",
        "completion_tokens",
        "images",
        "size",
        "exact",
        "status",
        "settled_at",
        "price_id",
        "input_rate",
        "cached_rate",
        "output_rate",
        "image_nano",
        "cost_nano",
        "packs_nano",
        "cash_nano",
    ]
    price_ids = {model: price_in_force(model=model, moment=now).id for model, _, _ in MODELS}
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(meta.db_table)} "
        f"({', '.join(quote(meta.get_field(f).column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    prep = meta.get_field("created_at").get_db_prep_value
    for start in range(0, rows, 20000):
        batch = []
        for n in range(start, min(rows, start + 20000)):
            model, price_in, price_out = rng.choice(MODELS)
            moment = now - timedelta(seconds=rng.randint(0, 90 * 86400))
            prompt, completion, user = (
                rng.randint(10, 3000),
                rng.randint(0, 1500),
                rng.choice(user_ids),
            )
            cost = prompt * price_in + completion * price_out
            batch.append(
                [
                    f"hist-{n}",
                    prep(moment, connection),
                    user,
                    team.id,
                    model,
                    "playground",
                    prompt,
                    completion,
                    0,
                    "",
                    True,
                    "settled",
                    prep(moment, connection),
                    price_ids[model],
                    price_in * PER_MILLION,
                    price_in * PER_MILLION,
                    price_out * PER_MILLION,
                    0,
                    cost,
                    0,
                    cost,
                ]
            )
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, batch)
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    report = (
        settlement.rollups_reconcile()
    )  # the rollups, rebuilt from the ledger as the hourly job does
    reconcile = time.perf_counter() - started
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return {
        "loaded": loaded,
        "reconcile": reconcile,
        "rollup_rows": report["rows"],
        "drifted": report["drifted"],
    }


def measure_dashboard(stack: Stack, samples: int) -> dict:
    client = httpx.Client(base_url=stack.app_url, timeout=60)
    client.get("/accounts/login/")
    client.post(
        "/accounts/login/",
        data={
            "username": "bench",
            "password": stack.password,
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
    )
    timings = {}
    for label, url in (
        ("GET /accounts/ (last 30 days)", "/accounts/"),
        (
            "GET /accounts/?start=…90 days",
            "/accounts/?start="
            + (time.strftime("%Y-%m-%d", time.localtime(time.time() - 89 * 86400))),
        ),
        ("GET /accounts/summary.json", "/accounts/summary.json"),
    ):
        for _ in range(3):
            client.get(url)  # warm-up
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{url} gave HTTP {response.status_code}")
        timings[label] = times
    client.close()
    return timings


def run(database_url: str | None, args, label: str) -> None:
    with Stack(keep=args.keep, database_url=database_url) as stack:
        stack.manage("shell", stdin=SETUP.format(members=MEMBERS))
        django_in_process(stack)
        settled = measure_settlement(stack, args.records)
        history = load_history(args.rows)
        timings = measure_dashboard(stack, args.samples)
    print(f"\n== {label} ==")
    print(
        f"1. Settlement, one worker: {settled['count']:,} records in {settled['elapsed']:.2f} s = "
        f"{settled['rate']:,.0f} records/s (target ≥ 2,000: "
        f"{'met' if settled['rate'] >= 2000 else 'NOT met'}); "
        f"asking took {settled['asked']:.2f} s of that; ledger adds up: {settled['adds_up']}"
    )
    print(
        f"2. Dashboard with {args.rows:,} settled records (+{args.records:,}), loaded in "
        f"{history['loaded']:.0f} s; "
        f"the reconcile job rebuilt {history['rollup_rows']:,} rollup rows from them in "
        f"{history['reconcile']:.1f} s "
        f"({history['drifted']:,} differed: part 1's rollups knew nothing of the loaded history)"
    )
    print(f"   {args.samples} requests each, ms:")
    print(f"   {'':<34}{'p50':>9}{'p95':>9}{'mean':>9}")
    for name, times in timings.items():
        print(
            "   "
            f"{name:<34}{pct(times, 50):>9.1f}{pct(times, 95):>9.1f}{statistics.mean(times):>9.1f}"
        )
    worst = max(pct(times, 95) for times in timings.values())
    print(f"   worst p95 {worst:.1f} ms (target < 200 ms: {'met' if worst < 200 else 'NOT met'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000, help="records to settle in part 1")
    parser.add_argument(
        "--rows", type=int, default=1_000_000, help="settled records behind the dashboard"
    )
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument(
        "--postgres", action="store_true", help="run on a throwaway PostgreSQL (not SQLite)"
    )
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if not args.postgres:
        run(None, args, "SQLite")
        return
    pgdata = tempfile.mkdtemp(prefix="bench-pg-")
    try:
        url = subprocess.run(
            [str(ROOT / "bin" / "pg-throwaway"), "start", pgdata, str(free_port())],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        run(url, args, "PostgreSQL")
    finally:
        subprocess.run([str(ROOT / "bin" / "pg-throwaway"), "stop", pgdata], check=False)


if __name__ == "__main__":
    main()
