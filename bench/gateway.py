"""The metered endpoint's overhead: a chat call through the console's /api/paas/v4/ with a member's
key against the same call straight to the simulator, and calls per second under load.

    .venv/bin/python bench/gateway.py [--samples N] [--quick] [--keep] [--pause MS] [--priced]

Starts its own Redis, simulator and one uvicorn web process (bench/_harness.py), makes a key with
`manage.py createkey`, prints a table, stops everything. Part 1 alternates direct and gateway
samples (and which goes first), each with its own text and the same model and seed, plain (total
time) and streamed (time to the first content chunk, and total), and a call without a key, which
both answer at once (401): what the console adds there is its floor, the web stack's own cost with
no call to make. Calls are --pause ms apart (10 by default), as a script's calls are spaced by
the upstream's own time: the simulator answers at once, and back to back each sample would also pay
for the work the one before left running (a plain call is recorded just after its answer). It
prints the console's own steps of a plain call from its Server-Timing header, and the record's time
as a streamed call shows it: from the chunk with the usage to the end of the stream. The calls are
to a free model, whose hold needs no look at the wallet; with --priced they are to a priced one,
paid from the bench team's wallet (topped up), with a Celery worker settling them as it would.
Part 2 sends plain calls from 50 and then 200 concurrent clients for a few seconds each, to one web
process and then spread over two, and counts calls per second and errors.
Targets (issue 12): added at most 2 ms at p50 and 8 ms at p95; no errors at 200 clients."""

import argparse
import asyncio
import sys
import time
from pathlib import Path

import httpx

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
from _harness import SIM_KEY, Stack, pct  # noqa: E402

MODEL = "glm-4-flash"  # free: its hold needs no look at the wallet (--priced: one that does)
PRICED_MODEL = "glm-4-air"


def body(n: int, *, stream: bool, model: str = MODEL) -> dict:
    return {
        "model": model,
        "seed": 7,
        "stream": stream,
        "messages": [{"role": "user", "content": f"Sample {n}: how do scripts talk to BigModel?"}],
    }


async def plain(
    client: httpx.AsyncClient, url: str, key: str, model: str, n: int, stages: dict | None = None
) -> float:
    start = time.perf_counter()
    response = await client.post(url, json=body(n, stream=False, model=model), headers=_auth(key))
    response.raise_for_status()
    took = (time.perf_counter() - start) * 1000
    if stages is not None:  # the console's own account of its steps (Server-Timing)
        for part in response.headers.get("Server-Timing", "").split(", "):
            name, _, ms = part.partition(";dur=")
            stages.setdefault(name, []).append(float(ms))
    return took


async def streamed(
    client: httpx.AsyncClient, url: str, key: str, model: str, n: int
) -> tuple[float, float, float]:
    """Time to the first content chunk, in all, and from the chunk with the usage to the end: the
    console records the call there (straight to the simulator it is nothing)."""
    start = time.perf_counter()
    first = usage = None
    async with client.stream(
        "POST", url, json=body(n, stream=True, model=model), headers=_auth(key)
    ) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if first is None and line.startswith("data: {") and '"content":"' in line:
                first = time.perf_counter()
            if line.startswith("data: {") and '"usage":' in line:
                usage = time.perf_counter()
    end = time.perf_counter()
    return ((first or end) - start) * 1000, (end - start) * 1000, (end - (usage or end)) * 1000


async def refused(client: httpx.AsyncClient, url: str, n: int) -> float:
    """A call without a key: answered at once (401), by the console or by the simulator."""
    start = time.perf_counter()
    response = await client.post(url, json=body(n, stream=False))
    assert response.status_code == 401, response.status_code
    return (time.perf_counter() - start) * 1000


def _auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def row(label: str, values: list[float]) -> str:
    return f"  {label:<46}{pct(values, 50):>10.2f}{pct(values, 95):>12.2f}"


async def latency(stack: Stack, key: str, model: str, samples: int, pause: float) -> None:
    direct_url = f"{stack.sim_url}/api/paas/v4/chat/completions"
    gateway_url = f"{stack.app_url}/api/paas/v4/chat/completions"
    paths = {"direct": (direct_url, SIM_KEY), "gateway": (gateway_url, key)}
    times: dict[str, dict[str, list[float]]] = {
        name: {"plain": [], "ttft": [], "total": [], "refused": []} for name in paths
    }
    stages: dict[str, list[float]] = {}
    async with httpx.AsyncClient(timeout=60) as client:
        for n in range(samples + 3):  # the first three pairs warm up
            order = list(paths) if n % 2 else list(reversed(paths))
            for name in order:
                url, auth = paths[name]
                seen = stages if name == "gateway" and n >= 3 else None
                took = await plain(client, url, auth, model, n, seen)
                await asyncio.sleep(pause)
                first, total, recording = await streamed(client, url, auth, model, n)
                await asyncio.sleep(pause)
                answered_at_once = await refused(client, url, n)
                await asyncio.sleep(pause)
                if n >= 3:
                    times[name]["refused"].append(answered_at_once)
                    times[name]["plain"].append(took)
                    times[name]["ttft"].append(first)
                    times[name]["total"].append(total)
                    if name == "gateway":
                        stages.setdefault("record (streamed: usage to end)", []).append(recording)
    print(
        f"\n1. Added latency, ms  ({samples} samples per path after 3 warm-up pairs, "
        f"{pause * 1000:g} ms between calls)"
    )
    print(f"  {'':<46}{'p50':>10}{'p95':>12}")
    for kind, label in (
        ("refused", "no key (401): the floor"),
        ("plain", "plain call"),
        ("ttft", "streamed: first token"),
        ("total", "streamed: total"),
    ):
        direct, gateway = times["direct"][kind], times["gateway"][kind]
        print(row(f"{label}, direct", direct))
        print(row(f"{label}, through the console", gateway))
        added = [pct(gateway, p) - pct(direct, p) for p in (50, 95)]
        print(f"  {label + ', added':<46}{added[0]:>10.2f}{added[1]:>12.2f}")
    plain_added = [
        pct(times["gateway"]["plain"], p) - pct(times["direct"]["plain"], p) for p in (50, 95)
    ]
    print("  the console's steps (a plain call's Server-Timing, then its record), ms:")
    for name, laps in stages.items():
        print(row(f"    {name}", laps))
    met = plain_added[0] <= 2 and plain_added[1] <= 8
    verdict = "met" if met else "NOT met"
    print(f"  target: added at most 2 ms at p50 and 8 ms at p95 (plain): {verdict}")


async def load(urls: list[str], key: str, model: str, clients: int, seconds: float) -> None:
    """``clients`` at once, spread over the web processes at ``urls`` as a balancer would."""
    done, errors, stop = 0, 0, time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def one_client(client: httpx.AsyncClient, n: int) -> None:
        nonlocal done, errors
        while time.monotonic() < stop:
            try:
                url = f"{urls[n % len(urls)]}/api/paas/v4/chat/completions"
                await plain(client, url, key, model, n)
                done += 1
            except httpx.HTTPError:
                errors += 1

    started = time.monotonic()
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await asyncio.gather(*(one_client(client, n) for n in range(clients)))
    wall = time.monotonic() - started
    rate = done / wall
    print(f"  {clients:>4} clients: {rate:8.1f} calls/s, {errors} errors, {done} in {wall:.1f} s")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--pause", type=float, default=10, help="ms between calls (default 10)")
    parser.add_argument(
        "--priced",
        action="store_true",
        help=f"call {PRICED_MODEL}, which the prepaid team pays from its wallet (a worker settles)",
    )
    args = parser.parse_args()
    samples, seconds = (10, 3.0) if args.quick else (args.samples, 10.0)
    with Stack(keep=args.keep) as stack:
        key = stack.manage("createkey", "bench", "--name", "bench").strip()
        model = PRICED_MODEL if args.priced else MODEL
        if args.priced:  # each hold then reads the wallet, and what is not settled yet
            stack.manage("topup", "bench", "1000")
            stack.spawn_worker()
        print(f"web process pid {stack.web_pid} on {stack.app_url}; simulator on {stack.sim_url}")
        print(f"model {model}")
        await latency(stack, key, model, samples, args.pause / 1000)
        print("\n2. Calls per second through the console (plain calls)")
        urls = [stack.app_url]
        for processes in (1, 2):
            if processes == 2:
                urls.append(stack.add_web())
            print(f"  {processes} web process{'es' if processes > 1 else ''}:")
            for clients in (50, 200):
                await load(urls, key, model, clients, seconds)
        print("  target: no errors at 200 clients")


if __name__ == "__main__":
    asyncio.run(main())
