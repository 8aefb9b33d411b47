"""Streaming overhead: time to first token and per-chunk latency through the app against straight
from the simulator, and how many concurrent streams one web process holds.

    .venv/bin/python bench/stream_overhead.py [--quick] [--first-token-only] [--streams N] [--keep]

Starts its own Redis, simulator and one uvicorn web process (see bench/_harness.py), prints a
table, stops everything. Fairness in parts 1 and 2: every app turn is a fresh conversation
(deleted afterwards, untimed), so the app sends exactly the one user message the direct call
sends (same model, seed and text, hence the same reply and chunking); app and direct samples
alternate, and which goes first alternates too. The machine, the simulator and this client are
shared by both paths. An app turn is what the page does: it names the reply, opens the reply's
stream and POSTs the turn at the same moment."""

import argparse
import asyncio
import contextlib
import html
import json
import os
import re
import signal
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
from _harness import SIM_KEY, Stack, cpu_seconds, login, pct, sse_events, status_kib  # noqa: E402

from bigmodel.simulator.replies import count_tokens  # noqa: E402

MODEL = "glm-4-flash"
FLOOR_URL = "/playground/m/0/cost/"  # an authenticated request that finds nothing (404)
FINAL_STATUS = re.compile(r'data-status="(\w+)"')
CONVERSATION = re.compile(r'id="id_conversation" value="([0-9a-f-]+)"')


def stream_url(reply: str) -> str:
    """The reply's stream as the page's placeholder opens it: as new, beside its POST."""
    return f"/playground/r/{reply}/stream/?new=1"


@dataclass
class Run:
    """One turn as the client saw it: delta arrival times (s from the request's start) and texts."""

    arrivals: list[float] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    # App only, from the turn's start: the stream's first event (`reset`), the POST's answer.
    reset_s: float = 0.0
    post_s: float = 0.0
    status: str | None = None  # the final status ("done", "failed", …); None: no end seen
    conversation: str = ""


async def listen(client: httpx.AsyncClient, reply: str, started: float, run: Run) -> None:
    """The reply's stream, as the page opens it: at once, beside the POST that creates it."""
    async with client.stream("GET", stream_url(reply)) as stream:
        if stream.status_code != 200:
            raise RuntimeError(f"GET {stream_url(reply)} gave HTTP {stream.status_code}")
        async with contextlib.aclosing(sse_events(stream)) as events:
            async for event, data, arrived in events:
                if event == "reset":
                    run.reset_s = arrived - started
                elif event == "delta":
                    run.arrivals.append(arrived - started)
                    run.parts.append(html.unescape(data))
                elif event == "done":
                    found = FINAL_STATUS.search(data)
                    run.status = found.group(1) if found else "?"
                    return


def turn_data(text: str, reply: str, **params) -> dict:
    return {"model": MODEL, "message": text, "do_sample": "true", "reply": reply, **params}


def accepted(response: httpx.Response) -> bool:
    return response.status_code == 200 and "turn-sent" in response.headers.get("HX-Trigger", "")


async def app_turn(
    client: httpx.AsyncClient, text: str, *, after_post: bool = False, **params
) -> Run:
    """The page's way: name the reply, listen for it and send the turn, at the same moment.
    ``after_post``: listen only once the POST has answered, so that nothing competes with it, as
    if the POST's response were the stream (with a slow first token the stream still opens long
    before the token)."""
    run, reply, started = Run(), str(uuid.uuid4()), time.perf_counter()
    if not after_post:
        listening = asyncio.create_task(listen(client, reply, started, run))
    response = await client.post(
        "/playground/send/", data=turn_data(text, reply, seed="7", **params)
    )
    run.post_s = time.perf_counter() - started
    if after_post:
        listening = asyncio.create_task(listen(client, reply, started, run))
    conversation = CONVERSATION.search(response.text)
    if not accepted(response) or not conversation:
        listening.cancel()
        raise RuntimeError(
            f"POST /playground/send/ gave HTTP {response.status_code}: {response.text[:300]}"
        )
    run.conversation = conversation.group(1)
    await listening
    return run


async def direct_turn(client: httpx.AsyncClient, text: str, **params) -> Run:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": text}],
        "stream": True,
        "do_sample": True,
        "seed": 7,
        **params,
    }
    run, started = Run(), time.perf_counter()
    async with client.stream("POST", "/api/paas/v4/chat/completions", json=body) as stream:
        async with contextlib.aclosing(sse_events(stream)) as events:
            async for _, data, arrived in events:
                if data == "[DONE]":
                    run.status = "done"
                    break
                piece = json.loads(data)["choices"][0]["delta"].get("content")
                if piece:
                    run.arrivals.append(arrived - started)
                    run.parts.append(piece)
    return run


async def pair(app, sim, i: int, text: str, after_post: bool = False) -> tuple[Run, Run]:
    """Both paths for one text, the order alternating so neither always runs on a warmer machine.
    The app's conversation is deleted afterwards (untimed): every sample meets the same state, as
    the POST's cost grows with the user's number of conversations (its sidebar lists up to 200)."""
    if i % 2:
        direct = await direct_turn(sim, text)
        app_run = await app_turn(app, text, after_post=after_post)
    else:
        app_run = await app_turn(app, text, after_post=after_post)
        direct = await direct_turn(sim, text)
    await app.post(f"/playground/c/{app_run.conversation}/delete/")
    for run, what in ((app_run, "app turn"), (direct, "direct call")):
        if run.status != "done" or not run.arrivals:
            raise RuntimeError(
                f"{what} {i}: ended with status {run.status!r} after {len(run.arrivals)} deltas"
            )
    return app_run, direct


async def measure_ttft(
    app, sim, samples: int, warmup: int, marker: str = "", after_post: bool = False
) -> dict:
    """``marker`` slows the upstream's first token (``[[fault:ttft=200]]``) on both paths;
    ``after_post``: see app_turn."""
    out = {"app": [], "direct": [], "post": [], "reset": [], "floor": [], "marker": marker}
    out["after_post"] = after_post
    for i in range(warmup + samples):
        started = time.perf_counter()
        await app.get(FLOOR_URL)  # the floor: an authenticated request that finds nothing
        if i >= warmup:
            out["floor"].append((time.perf_counter() - started) * 1000)
        text = f"ttft sample {i} {marker}".strip()
        app_run, direct = await pair(app, sim, i, text, after_post)
        if i >= warmup:
            out["app"].append(app_run.arrivals[0] * 1000)
            out["direct"].append(direct.arrivals[0] * 1000)
            out["post"].append(app_run.post_s * 1000)
            out["reset"].append(app_run.reset_s * 1000)
    return out


async def measure_chunks(app, sim, runs: int, warmup: int, latency_ms: int) -> dict:
    out = {
        "app_gaps": [],
        "direct_gaps": [],
        "offset": [],
        "lag": [],
        "same": 0,
        "runs": runs,
        "chunks": 0,
    }
    for i in range(warmup + runs):
        app_run, direct = await pair(
            app, sim, i, f"chunk sample {i} [[fault:latency={latency_ms}]]"
        )
        if i < warmup:
            continue
        out["same"] += app_run.parts == direct.parts
        out["chunks"] += len(direct.arrivals)
        for name, run in (("app_gaps", app_run), ("direct_gaps", direct)):
            out[name] += [
                (b - a) * 1000 for a, b in zip(run.arrivals, run.arrivals[1:], strict=False)
            ]
        a0, d0 = app_run.arrivals[0], direct.arrivals[0]
        for a, d in zip(app_run.arrivals, direct.arrivals, strict=False):
            out["offset"].append((a - d) * 1000)  # from the request's start: all the app adds
            out["lag"].append(
                ((a - a0) - (d - d0)) * 1000
            )  # after the first chunk: does the relay keep pace?
    return out


@dataclass
class Load:
    """What part 3 counts while it runs."""

    done: int = 0
    deltas: int = 0
    errors: Counter = field(default_factory=Counter)
    ttft: list[float] = field(default_factory=list)
    # 2nd half of a reply's deltas, over the upstream's pacing
    pace: list[float] = field(default_factory=list)
    answered: int = 0  # POSTs answered
    open_now: int = 0
    peak_open: int = 0
    last_open: float = 0.0


async def load_stream(
    client: httpx.AsyncClient, load: Load, reply: str, started: float, args
) -> str | None:
    """One turn's stream, held open until `done`; what went wrong, or None."""
    deadline = 60 + 2 * args.load_tokens / 2 * args.load_latency / 1000  # twice the reply, + 60 s
    async with client.stream("GET", stream_url(reply)) as stream:
        if stream.status_code != 200:
            return f"stream HTTP {stream.status_code}"
        load.open_now += 1
        load.peak_open, load.last_open = max(load.peak_open, load.open_now), time.perf_counter()
        try:
            # The app's keep-alives would outlast any read timeout.
            async with asyncio.timeout(deadline):
                status, text = await read_to_done(stream, started, load, args.load_latency)
            return verdict(status, text, tokens=args.load_tokens)
        except TimeoutError:
            return f"no done within {deadline:.0f} s"
        finally:
            load.open_now -= 1


async def load_turn(
    client: httpx.AsyncClient, load: Load, gate: asyncio.Semaphore, i: int, args
) -> None:
    """One turn of part 3; everything that is not a `done` reply is counted as an error, by kind."""
    text = f"load sample {i} [[long]] [[fault:latency={args.load_latency}]]"
    reply, listening = str(uuid.uuid4()), None
    try:
        async with gate:  # ramp the turns; the streams themselves all stay open together
            started = time.perf_counter()
            listening = asyncio.create_task(load_stream(client, load, reply, started, args))
            data = turn_data(text, reply, max_tokens=str(args.load_tokens))
            response = await client.post("/playground/send/", data=data)
        if not accepted(response):
            listening.cancel()
            load.errors[f"POST HTTP {response.status_code}"] += 1
            return
        load.answered += 1
        problem = await listening
    except httpx.HTTPError as error:
        if listening is not None:
            listening.cancel()
        load.errors[f"{type(error).__name__}: {error}"[:90]] += 1
        return
    if problem:
        load.errors[problem] += 1
    else:
        load.done += 1


def verdict(status: str | None, text: str, *, tokens: int) -> str | None:
    """None for a good turn, else what went wrong."""
    if status is None:
        return "stream ended without done"
    if status != "done":
        return f"reply {status}"
    # [[long]] cut at max_tokens: the whole reply is exactly that many tokens (the simulator's rule)
    if count_tokens(text) != tokens:
        return "done, but the live stream missed part of the reply"
    return None


async def read_to_done(
    stream: httpx.Response, started: float, load: Load, latency_ms: int
) -> tuple[str | None, str]:
    """The reply's final status ("done", "failed", …; None when the stream ends without one) and
    the text its deltas carried."""
    parts, times = [], []
    async with contextlib.aclosing(sse_events(stream)) as events:
        async for event, data, arrived in events:
            if event == "delta":
                load.deltas += 1
                if not parts:
                    load.ttft.append((arrived - started) * 1000)
                parts.append(html.unescape(data))
                times.append(arrived)
            elif event == "done":
                # The upstream sends a chunk every latency_ms; a late reader first catches up on the
                # backlog in a burst, so judge the second half: 1.0 keeps pace, 2.0 is half speed.
                half = len(times) // 2
                if len(times) - half > 1:
                    load.pace.append(
                        (times[-1] - times[half]) * 1000 / ((len(times) - 1 - half) * latency_ms)
                    )
                found = FINAL_STATUS.search(data)
                return (found.group(1) if found else "?"), "".join(parts)
    return None, "".join(parts)


@dataclass
class Steady:
    """The web process's CPU and the deltas delivered while every stream is open and no POST is
    left: the cost of relaying alone."""

    cpu0: float | None = None
    deltas0: int = 0
    cpu: float = 0.0
    deltas: int = 0
    seconds: float = 0.0
    started: float = 0.0

    def tick(self, pid: int, load: Load, n: int) -> None:
        all_open = load.answered == n and load.open_now == n
        if self.cpu0 is None and all_open:
            self.cpu0, self.deltas0, self.started = (
                cpu_seconds(pid),
                load.deltas,
                time.perf_counter(),
            )
        elif self.cpu0 is not None and not self.seconds and not all_open:
            self.cpu, self.deltas = cpu_seconds(pid) - self.cpu0, load.deltas - self.deltas0
            self.seconds = time.perf_counter() - self.started


async def watch(pid: int, load: Load, rss: dict, started: float, steady: Steady, n: int) -> None:
    """Peak RSS during the load (VmHWM covers the process's whole life), the steady window, and a
    progress line."""
    tick = 0
    while True:
        rss["peak"] = max(rss["peak"], status_kib(pid, "VmRSS"))
        rss["threads"] = max(rss.get("threads", 0), len(os.listdir(f"/proc/{pid}/task")))
        steady.tick(pid, load, n)
        tick += 1
        if tick % 50 == 0:
            print(
                f"    {time.perf_counter() - started:5.0f} s: {load.open_now} streams open, "
                f"{load.done} done, "
                f"{sum(load.errors.values())} errors",
                flush=True,
            )
        await asyncio.sleep(0.1)


async def measure_load(stack: Stack, app: httpx.AsyncClient, args) -> dict:
    """N turns at once, each one's SSE stream opened with its POST and held open until `done`."""
    n, load = args.streams, Load()
    limits = httpx.Limits(max_connections=n + 50, max_keepalive_connections=n + 50)
    async with (
        httpx.AsyncClient(
            base_url=stack.app_url,
            cookies=app.cookies,
            headers=app.headers,
            limits=limits,
            timeout=httpx.Timeout(120, connect=30),
        ) as client,
        httpx.AsyncClient(base_url=stack.sim_url) as sim_control,
    ):
        await sim_control.post("/_sim/reset")  # peak_streams from here on
        pids = {
            "web": stack.web_pid,
            "simulator": stack.procs["simulator"].pid,
            "redis": stack.procs["redis"].pid,
        }
        cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
        client_cpu0, rss = (
            time.process_time(),
            {"before": status_kib(stack.web_pid, "VmRSS"), "peak": 0},
        )
        started = time.perf_counter()
        steady = Steady()
        watcher = asyncio.create_task(watch(stack.web_pid, load, rss, started, steady, n))
        gate = asyncio.Semaphore(args.ramp)
        await asyncio.gather(*(load_turn(client, load, gate, i, args) for i in range(n)))
        wall = time.perf_counter() - started
        watcher.cancel()
        sim_stats = (await sim_control.get("/_sim/stats")).json()
    cpu_used = {name: cpu_seconds(pid) - cpu0[name] for name, pid in pids.items()}
    cpu = {name: used / wall * 100 for name, used in cpu_used.items()}
    cpu["bench client"] = (time.process_time() - client_cpu0) / wall * 100
    return {
        "n": n,
        "load": load,
        "sim": sim_stats,
        "wall": wall,
        "ramp": load.last_open - started,
        "rss0": rss["before"],
        "rss_peak": rss["peak"],
        "hwm": status_kib(stack.web_pid, "VmHWM"),
        "threads": rss.get("threads", 0),
        "cpu": cpu,
        "web_cpu_s": cpu_used["web"],
        "steady": steady,
    }


# --- the report ------------------------------------------------------------------------------


def line(label: str, *cells) -> None:
    print(
        f"  {label:<38}"
        + "".join(f"{c:>12}" if isinstance(c, str) else f"{c:>12.2f}" for c in cells)
    )


def report_ttft(t: dict, warmup: int, title: str) -> None:
    n = len(t["app"])
    print(
        f"\n{title}, ms  ({n} samples per path after {warmup} warm-up pairs; "
        "a fresh conversation per app sample)"
    )
    line("", "p50", "p95", "mean")
    for label, key in (("direct (simulator)", "direct"), ("through the app", "app")):
        line(label, pct(t[key], 50), pct(t[key], 95), sum(t[key]) / n)
    added = [a - d for a, d in zip(t["app"], t["direct"], strict=True)]
    line(
        "added by the app",
        pct(t["app"], 50) - pct(t["direct"], 50),
        pct(t["app"], 95) - pct(t["direct"], 95),
        sum(added) / n,
    )
    line(
        "ratio app/direct",
        pct(t["app"], 50) / pct(t["direct"], 50),
        pct(t["app"], 95) / pct(t["direct"], 95),
        "",
    )
    print("  app breakdown, from just before the POST:")
    line(
        "  POST /playground/send/ answered",
        pct(t["post"], 50),
        pct(t["post"], 95),
        sum(t["post"]) / n,
    )
    line(
        "  stream open (its `reset` event)",
        pct(t["reset"], 50),
        pct(t["reset"], 95),
        sum(t["reset"]) / n,
    )
    line(
        "floor: one authenticated 404 request",
        pct(t["floor"], 50),
        pct(t["floor"], 95),
        sum(t["floor"]) / n,
    )
    added_p50 = pct(t["app"], 50) - pct(t["direct"], 50)
    if t["after_post"]:
        print("  no target: 1b with the POST alone before the upstream call")
    elif t["marker"]:  # the app's work should hide under the upstream's wait
        verdict = "met" if added_p50 <= 5 else "NOT met"
        print(f"  target: at most 5 ms added at p50: {verdict}")
    else:
        verdict = "met" if added_p50 <= pct(t["floor"], 50) else "NOT met"
        print(f"  target: added p50 no more than the floor's p50: {verdict}")


def report_chunks(c: dict, warmup: int, latency_ms: int) -> None:
    print(
        f"\n2. Per-chunk latency, ms  ({c['runs']} replies per path, {c['chunks']} chunks, "
        f"{latency_ms} ms "
        f"between upstream chunks, {warmup} warm-up pairs)"
    )
    line("", "p50", "p95", "mean")
    for label, key in (
        ("gap between deltas, direct", "direct_gaps"),
        ("gap between deltas, app", "app_gaps"),
    ):
        line(label, pct(c[key], 50), pct(c[key], 95), sum(c[key]) / len(c[key]))
    line(
        "ratio app/direct (gaps)",
        pct(c["app_gaps"], 50) / pct(c["direct_gaps"], 50),
        pct(c["app_gaps"], 95) / pct(c["direct_gaps"], 95),
        "",
    )
    line(
        "delta k later than direct, from start",
        pct(c["offset"], 50),
        pct(c["offset"], 95),
        sum(c["offset"]) / len(c["offset"]),
    )
    line(
        "  of which lag growth after delta 0",
        pct(c["lag"], 50),
        pct(c["lag"], 95),
        sum(c["lag"]) / len(c["lag"]),
    )
    print(f"  same reply and chunking on both paths: {c['same']}/{c['runs']}")


def report_load(r: dict, args) -> None:
    load: Load = r["load"]
    print(
        f"\n3. Concurrent streams in one web process  ({r['n']} turns, "
        f"{args.load_tokens}-token replies, {args.load_latency} ms between chunks, "
        f"POSTs {args.ramp} at a time)"
    )
    print(f"  completed with done, the whole reply streamed: {load.done}/{r['n']}")
    print(
        "  errors: "
        + (", ".join(f"{count} × {kind}" for kind, count in load.errors.most_common()) or "none")
    )
    print(
        f"  peak open streams: {load.peak_open} (client)   "
        f"{r['sim']['peak_streams']} upstream (simulator); "
        f"simulator saw {r['sim']['disconnects']} disconnects, {r['sim']['dropped']} drops"
    )
    print(
        f"  wall time {r['wall']:.1f} s; last stream opened after {r['ramp']:.1f} s; "
        f"time to first token under load p50 {pct(load.ttft, 50):.0f} ms, p95 "
        f"{pct(load.ttft, 95):.0f} ms"
    )
    print(
        f"  relay pace (2nd half of each reply, over the upstream's own pacing; 1.00 keeps up): "
        f"p50 {pct(load.pace, 50):.2f}, p95 {pct(load.pace, 95):.2f}"
    )
    grown = r["rss_peak"] - r["rss0"]
    per = grown / load.peak_open if load.peak_open else float("nan")
    print(
        f"  web RSS: {r['rss0'] / 1024:.0f} MiB before, "
        f"{r['rss_peak'] / 1024:.0f} MiB peak during, VmHWM "
        f"{r['hwm'] / 1024:.0f} MiB; {per:.0f} KiB per open stream; at most {r['threads']} "
        "threads"
    )
    print(
        "  CPU during the load, % of one core: "
        + ", ".join(f"{k} {v:.0f}" for k, v in r["cpu"].items())
    )
    if load.deltas:  # a Python process uses at most one core: this bounds chunks/s per web process
        print(
            f"  {load.deltas} deltas delivered: "
            f"{r['web_cpu_s'] / load.deltas * 1e6:.0f} µs of web CPU per delta "
            f"(POSTs and reply saves included), {load.deltas / r['wall']:.0f} deltas/s"
        )
    steady: Steady = r["steady"]
    if steady.deltas:
        per_delta_ms = steady.cpu / steady.deltas * 1000
        print(
            f"  all {r['n']} streams open, no POST left ({steady.seconds:.0f} s): "
            f"{steady.deltas} deltas, {per_delta_ms * 1000:.0f} µs of web CPU per delta, "
            f"{steady.cpu / steady.seconds * 100:.0f}% of a core"
        )
    else:
        per_delta_ms = r["web_cpu_s"] / load.deltas * 1000 if load.deltas else float("nan")
        print("  no window with every stream open and no POST left: the overall figure counts")
    verdict = "met" if per_delta_ms <= 0.4 else "NOT met"
    print(f"  target: at most 0.4 ms of web CPU per delta: {verdict}")
    verdict = "met" if per <= 100 else "NOT met"
    print(f"  target: at most 100 KiB of web memory per open stream: {verdict}")


# --- main --------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="a small version of everything (smoke run)"
    )
    parser.add_argument("--first-token-only", action="store_true", help="part 1 only (1a, 1b, 1c)")
    parser.add_argument(
        "--streams", type=int, help="concurrent turns in part 3 (default 500; 40 with --quick)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, database)")
    args = parser.parse_args()
    quick = args.quick
    args.samples, args.warmup = (12, 3) if quick else (80, 10)
    args.chunk_runs, args.chunk_warmup, args.chunk_latency = (3, 1, 20) if quick else (12, 2, 20)
    args.streams = args.streams or (40 if quick else 500)
    # 1-3 tokens a chunk. The full run paces each reply at a chunk a second for about two minutes,
    # longer than the POSTs take to ramp, so every stream is open at once; its deltas/s figure is
    # the process's ceiling, which bounds streams × chunk rate.
    args.load_latency, args.load_tokens, args.ramp = (100, 60, 20) if quick else (1000, 240, 20)
    return args


async def main(args: argparse.Namespace, stack: Stack) -> None:
    async with (
        httpx.AsyncClient(base_url=stack.app_url, timeout=60) as app,
        httpx.AsyncClient(
            base_url=stack.sim_url, timeout=60, headers={"Authorization": f"Bearer {SIM_KEY}"}
        ) as sim,
    ):
        await login(app, stack.password)
        print(
            f"web process pid {stack.web_pid} on {stack.app_url}; simulator on {stack.sim_url}",
            flush=True,
        )
        ttft = await measure_ttft(app, sim, args.samples, args.warmup)
        report_ttft(ttft, args.warmup, "1a. Time to first token, an upstream that answers at once")
        ttft = await measure_ttft(app, sim, args.samples, args.warmup, "[[fault:ttft=200]]")
        report_ttft(ttft, args.warmup, "1b. Time to first token, the upstream's first at 200 ms")
        ttft = await measure_ttft(app, sim, args.samples, args.warmup, "[[fault:ttft=200]]", True)
        report_ttft(ttft, args.warmup, "1c. The same, listening once the POST has answered")
        if not args.first_token_only:
            chunks = await measure_chunks(
                app, sim, args.chunk_runs, args.chunk_warmup, args.chunk_latency
            )
            report_chunks(chunks, args.chunk_warmup, args.chunk_latency)
            print(f"\n3. running {args.streams} concurrent turns…", flush=True)
            report_load(await measure_load(stack, app, args), args)
    stack.report_problems("web", expected=f"Not Found: {FLOOR_URL}$")


def _interrupted(*_) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up like Ctrl-C


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupted)
    arguments = parse_args()
    try:
        # The client's own overhead is shared with the app on this machine: keep it low.
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    try:
        with Stack(keep=arguments.keep) as services:
            asyncio.run(main(arguments, services), loop_factory=loop_factory)
    except KeyboardInterrupt:
        sys.exit("interrupted; everything started was stopped")
