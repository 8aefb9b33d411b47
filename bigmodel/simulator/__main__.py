"""``python -m bigmodel.simulator``: run the fake BigModel server on a real port.

Keys come from ``--key`` (repeatable), else ``SIMULATOR_KEYS`` (comma-separated),
else ``ZHIPUAI_API_KEY``. Keys are never printed or
logged."""

from __future__ import annotations

import argparse
import logging
import os
import sys

import uvicorn

from .app import create_app
from .faults import FAULT_NAMES
from .server import _url_host, bind_socket


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bigmodel.simulator", description="Fake BigModel v4 API server."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="ID.SECRET",
        help="accepted API key (repeatable)",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="sleep before each streamed chunk / each reply",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="refuse temperature/top_p <= 0 or >= 1, like the old service",
    )
    parser.add_argument(
        "--fault",
        default=None,
        help=f"fault for every request, e.g. latency=20,drop ({', '.join(FAULT_NAMES)})",
    )
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


def keys_from(args: argparse.Namespace) -> list[str]:
    if args.key:
        return args.key
    raw = os.environ.get("SIMULATOR_KEYS") or os.environ.get("ZHIPUAI_API_KEY") or ""
    return [k.strip() for k in raw.split(",") if k.strip()]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    keys = keys_from(args)
    if not keys:
        print(
            "no API key: pass --key ID.SECRET or set SIMULATOR_KEYS / ZHIPUAI_API_KEY",
            file=sys.stderr,
        )
        return 2
    try:
        app = create_app(
            keys, latency_ms=args.latency_ms, strict=args.strict, default_fault=args.fault
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    sock = bind_socket(args.host, args.port)
    port = sock.getsockname()[1]
    print(
        f"BigModel simulator on http://{_url_host(args.host)}:{port}/api/paas/v4 "
        f"({len(keys)} key{'s' if len(keys) != 1 else ''})",
        flush=True,
    )
    config = uvicorn.Config(
        app,
        log_level=args.log_level,
        access_log=False,
        lifespan="off",
        backlog=4096,
        timeout_graceful_shutdown=2,
    )
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
