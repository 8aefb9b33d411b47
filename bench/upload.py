"""Image uploads: the end-to-end time of a GLM-4V turn with a 5 MB image, and the web process's
peak memory while five such turns upload at once.

    .venv/bin/python bench/upload.py [--rounds N] [--keep]

Starts its own Redis, simulator and one uvicorn web process (bench/_harness.py). The baseline for
the time is the same request sent straight to the simulator (the client encodes the image inline,
as any SDK would). Memory: VmRSS of the web process sampled every 5 ms from just before the
uploads start until every reply is done; growth is the peak minus the RSS just before, against the
bytes uploaded in that round. Target: growth under 3× the bytes
uploaded."""

import argparse
import asyncio
import base64
import contextlib
import re
import signal
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
from _harness import SIM_KEY, Stack, login, pct, sse_events, status_kib  # noqa: E402

from tests.pictures import noisy_png  # noqa: E402

MODEL = "glm-4v-plus"
STREAM_URL = re.compile(r'sse-connect="(/playground/r/[0-9a-f-]+/stream/)"')
FINAL_STATUS = re.compile(r'data-status="(\w+)"')
IMAGE_BYTES = 5 * 1024 * 1024 - 64 * 1024  # "under 5 MB", with room for PNG framing


async def app_turn(client: httpx.AsyncClient, image: bytes, i: int) -> dict:
    started = time.perf_counter()
    response = await client.post(
        "/playground/send/",
        data={"model": MODEL, "message": f"What is this? ({i})"},
        files=[("image", (f"photo-{i}.png", image, "image/png"))],
    )
    posted = time.perf_counter() - started
    found = STREAM_URL.search(response.text)
    if response.status_code != 200 or not found:
        raise RuntimeError(f"POST gave HTTP {response.status_code}: {response.text[:300]}")
    first = status = None
    async with client.stream("GET", found.group(1)) as stream:
        async with contextlib.aclosing(sse_events(stream)) as events:
            async for event, data, arrived in events:
                if event == "delta" and first is None:
                    first = arrived - started
                elif event == "done":
                    status = (FINAL_STATUS.search(data) or [None, "?"])[1]
                    break
    if status != "done":
        raise RuntimeError(f"turn {i} ended {status}")
    return {"post": posted, "first": first, "total": time.perf_counter() - started}


async def direct_turn(client: httpx.AsyncClient, image: bytes, i: int) -> dict:
    body = {
        "model": MODEL,
        "stream": True,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": f"What is this? ({i})"},
                    {"type": "image_url", "image_url": {"url": base64.b64encode(image).decode()}},
                ],
            }
        ],
    }
    started, first = time.perf_counter(), None
    async with client.stream("POST", "/api/paas/v4/chat/completions", json=body) as stream:
        if stream.status_code != 200:
            raise RuntimeError(
                f"direct call gave HTTP {stream.status_code}: {(await stream.aread())[:300]}"
            )
        async with contextlib.aclosing(sse_events(stream)) as events:
            async for _, data, arrived in events:
                if first is None and '"content"' in data:
                    first = arrived - started
                if data == "[DONE]":
                    break
    return {"first": first, "total": time.perf_counter() - started}


async def sample_rss(pid: int, peak: list[int]) -> None:
    while True:
        peak[0] = max(peak[0], status_kib(pid, "VmRSS"))
        await asyncio.sleep(0.005)


async def concurrent_round(
    stack: Stack, client: httpx.AsyncClient, images: list[bytes], round_no: int
) -> dict:
    before = status_kib(stack.web_pid, "VmRSS")
    peak = [before]
    sampler = asyncio.create_task(sample_rss(stack.web_pid, peak))
    started = time.perf_counter()
    turns = await asyncio.gather(
        *(app_turn(client, image, 1000 * round_no + i) for i, image in enumerate(images))
    )
    wall = time.perf_counter() - started
    sampler.cancel()
    uploaded = sum(len(image) for image in images)
    return {
        "before": before,
        "peak": peak[0],
        "growth": (peak[0] - before) * 1024,
        "uploaded": uploaded,
        "wall": wall,
        "slowest": max(t["total"] for t in turns),
    }


def ms(values: list[float]) -> tuple[float, float, float]:
    return pct(values, 50) * 1000, pct(values, 95) * 1000, statistics.mean(values) * 1000


async def main(args, stack: Stack) -> None:
    images = [noisy_png(IMAGE_BYTES - 200_000 + i * 40_000, seed=i) for i in range(5)]
    sizes = ", ".join(f"{len(image) / 1048576:.2f}" for image in images)
    print(f"five PNGs of {sizes} MiB (limit: under 5 MiB); model {MODEL}; web pid {stack.web_pid}")
    timeout = httpx.Timeout(120, connect=30)
    async with (
        httpx.AsyncClient(base_url=stack.app_url, timeout=timeout) as app,
        httpx.AsyncClient(
            base_url=stack.sim_url, timeout=timeout, headers={"Authorization": f"Bearer {SIM_KEY}"}
        ) as sim,
    ):
        await login(app, stack.password)
        await app_turn(app, images[0], 0)  # warm-up: imports, connections, the first JWT
        await direct_turn(sim, images[0], 0)
        app_runs, direct_runs = [], []
        for i in range(args.samples):
            image = images[i % len(images)]
            app_runs.append(await app_turn(app, image, i + 1))
            direct_runs.append(await direct_turn(sim, image, i + 1))
        print(f"\n1. One 5 MB image turn, ms ({args.samples} samples each, one at a time)")
        print(f"  {'':<40}{'p50':>10}{'p95':>10}{'mean':>10}")
        rows = [
            ("direct: POST to the reply's end", [r["total"] for r in direct_runs]),
            ("app: POST to the reply's end", [r["total"] for r in app_runs]),
            ("app: POST answered (upload checked)", [r["post"] for r in app_runs]),
            ("app: first token", [r["first"] for r in app_runs]),
            ("direct: first token", [r["first"] for r in direct_runs]),
        ]
        for label, values in rows:
            print(f"  {label:<40}" + "".join(f"{v:>10.1f}" for v in ms(values)))
        ratio = pct([r["total"] for r in app_runs], 50) / pct([r["total"] for r in direct_runs], 50)
        print(f"  ratio app/direct at p50: {ratio:.2f}")

        print(f"\n2. Five uploads at once, {args.rounds} rounds: web process memory")
        rounds = [await concurrent_round(stack, app, images, r + 1) for r in range(args.rounds)]
        for number, r in enumerate(rounds, 1):
            print(
                f"  round {number}: RSS {r['before'] / 1024:.0f} → "
                f"peak {r['peak'] / 1024:.0f} MiB, growth {r['growth'] / 1048576:.1f} MiB "
                f"for {r['uploaded'] / 1048576:.1f} MiB uploaded "
                f"= {r['growth'] / r['uploaded']:.2f}×; all five done in {r['wall']:.2f} s"
            )
        worst = max(r["growth"] / r["uploaded"] for r in rounds)
        print(
            f"  worst growth / bytes uploaded: {worst:.2f}×  (target < 3×: "
            f"{'met' if worst < 3 else 'NOT met'})"
        )
        print(
            "  VmHWM of the web process over the whole run: "
            f"{status_kib(stack.web_pid, 'VmHWM') / 1024:.0f} MiB"
        )
    stack.report_problems("web")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=10, help="single turns per path in part 1")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of five concurrent uploads in part 2"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temp dir (logs, database, media)"
    )
    return parser.parse_args()


def _interrupted(*_) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupted)
    arguments = parse_args()
    try:
        with Stack(keep=arguments.keep) as services:
            asyncio.run(main(arguments, services))
    except KeyboardInterrupt:
        sys.exit("interrupted; everything started was stopped")
