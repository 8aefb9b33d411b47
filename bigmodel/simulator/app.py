"""The Starlette application: routing, auth, request log and the ``/_sim`` controls."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bigmodel.catalogue import ModelSpec

from . import handlers
from .auth import authenticate
from .errors import MSG_BAD_PARAMS, MSG_INTERNAL, ApiError
from .faults import parse_spec
from .state import SimState, loggable
from .streaming import EventStream, install_log_filter

log = logging.getLogger("bigmodel.simulator")
API = handlers.API

HandlerResponse = Response | EventStream
Handler = Callable[[Request, SimState, dict], Awaitable[HandlerResponse]]


def create_app(
    keys: list[str],
    latency_ms: float = 0,
    strict: bool = False,
    default_fault: str | None = None,
    *,
    catalogue: dict[str, ModelSpec] | None = None,
    async_seconds: float = 0.3,
) -> Starlette:
    """A wire-compatible fake of ``https://open.bigmodel.cn/api/paas/v4``.

    ``keys`` are ``"id.secret"`` strings; ``latency_ms`` sleeps before each streamed
    chunk (once before other replies); ``strict`` refuses temperature/top_p of
    exactly 0 or 1; ``default_fault`` applies a fault spec (e.g. ``"latency=20,drop"``)
    to every request; ``async_seconds`` is how long async tasks stay
    PROCESSING."""
    install_log_filter()
    state = SimState(list(keys), latency_ms, strict, default_fault, catalogue, async_seconds)
    routes = [
        Route(f"{API}/chat/completions", _api(handlers.chat_completions), methods=["POST"]),
        Route(f"{API}/async/chat/completions", _api(handlers.async_submit), methods=["POST"]),
        Route(f"{API}/async-result/{{task_id}}", _api(handlers.async_result), methods=["GET"]),
        Route(f"{API}/images/generations", _api(handlers.image_generations), methods=["POST"]),
        Route(f"{API}/async/images/generations", _api(handlers.async_images), methods=["POST"]),
        Route(f"{API}/embeddings", _api(handlers.embeddings), methods=["POST"]),
        Route("/files/{name}", _files, methods=["GET"]),
        Route("/_sim/health", _health, methods=["GET"]),
        Route("/_sim/requests", _requests, methods=["GET"]),
        Route("/_sim/stats", _stats, methods=["GET"]),
        Route("/_sim/reset", _reset, methods=["POST"]),
        Route("/_sim/expire-files", _expire_files, methods=["POST"]),
        Route("/_sim/config", _config, methods=["GET", "POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    app.state.sim = state
    return app


def _api(handler: Handler) -> Callable[[Request], Awaitable[HandlerResponse]]:
    """Wrap an endpoint: count, log, authenticate, parse JSON, map errors."""

    async def endpoint(request: Request) -> HandlerResponse:
        state: SimState = request.app.state.sim
        route = request.scope["route"].path
        state.count(route)
        entry = state.record(request.method, request.url.path)
        # The caller's address and port: calls on one kept-alive connection share a port.
        entry["client"] = f"{request.client.host}:{request.client.port}" if request.client else ""
        try:
            response = await _handle(handler, request, state, entry)
        except ApiError as error:
            response = error.response()
        except Exception:
            log.exception("simulator bug while handling %s", request.url.path)
            response = ApiError(500, "500", MSG_INTERNAL).response()
        status = response.status if isinstance(response, EventStream) else response.status_code
        state.finish(entry, status)
        log.info(
            "%s %s model=%s auth=%s -> %s",
            request.method,
            request.url.path,
            entry["model"],
            entry["auth"],
            status,
        )
        return response

    return endpoint


async def _handle(
    handler: Handler, request: Request, state: SimState, entry: dict
) -> HandlerResponse:
    body, parse_error = None, False
    if request.method == "POST":
        body, parse_error = await _read_json(request)
        entry["body"] = loggable(body)
        if isinstance(body, dict) and isinstance(body.get("model"), str):
            entry["model"] = body["model"]
    # Never keep the header itself: only which of the four accepted forms it was.
    entry["auth"] = authenticate(request.headers.get("authorization"), state.secrets, state.strict)
    if parse_error or (request.method == "POST" and not isinstance(body, dict)):
        raise ApiError(400, "1210", MSG_BAD_PARAMS)
    return await handler(request, state, body or {})


async def _read_json(request: Request) -> tuple[Any, bool]:
    raw = await request.body()
    try:
        return json.loads(raw or b"null"), False
    except (ValueError, UnicodeDecodeError):
        return raw[:2000].decode("utf-8", "replace"), True


async def _files(request: Request) -> Response:
    state: SimState = request.app.state.sim
    state.count(request.scope["route"].path)
    return await handlers.serve_file(request, state)


async def _health(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def _requests(request: Request) -> Response:
    """API requests, oldest first. ``?since=SEQ`` only those after one seen before, ``?path=`` by
    suffix, ``?request_id=`` by the body's request_id, ``?limit=`` the last N. ``dropped`` says how
    many old entries the log no longer holds (none until it is full) and ``oldest`` the first it
    does, so a count is never silently short; ``seq`` is the last number given out."""
    state: SimState = request.app.state.sim
    entries = list(state.log)
    since = request.query_params.get("since")
    if since and since.isdigit():
        entries = [e for e in entries if e["seq"] > int(since)]
    suffix = request.query_params.get("path")
    if suffix:
        entries = [e for e in entries if e["path"].endswith(suffix)]
    request_id = request.query_params.get("request_id")
    if request_id:
        entries = [
            e
            for e in entries
            if isinstance(e["body"], dict) and e["body"].get("request_id") == request_id
        ]
    limit = request.query_params.get("limit")
    if limit and limit.isdigit():
        entries = entries[-int(limit) :] if int(limit) else []
    oldest = state.log[0]["seq"] if state.log else state.seq + 1
    return JSONResponse(
        {"requests": entries, "seq": state.seq, "oldest": oldest, "dropped": state.dropped}
    )


async def _stats(request: Request) -> Response:
    return JSONResponse(request.app.state.sim.stats.as_dict())


async def _reset(request: Request) -> Response:
    request.app.state.sim.reset()
    return JSONResponse({"ok": True})


async def _expire_files(request: Request) -> Response:
    expired = request.app.state.sim.files.expire_all()
    return JSONResponse({"ok": True, "expired": expired})


async def _config(request: Request) -> Response:
    """Read or change latency_ms / strict / default_fault / async_seconds while running."""
    state: SimState = request.app.state.sim
    if request.method == "POST":
        try:
            changes = json.loads(await request.body() or b"{}")
            if "default_fault" in changes:
                parse_spec(changes["default_fault"])
                state.default_fault = changes["default_fault"] or None
            if "latency_ms" in changes:
                state.latency_ms = float(changes["latency_ms"] or 0)
            if "strict" in changes:
                state.strict = bool(changes["strict"])
            if "async_seconds" in changes:
                state.async_seconds = float(changes["async_seconds"])
        except (ValueError, TypeError, AttributeError) as error:
            return JSONResponse({"ok": False, "error": str(error)}, status_code=400)
    return JSONResponse(
        {
            "ok": True,
            "latency_ms": state.latency_ms,
            "strict": state.strict,
            "default_fault": state.default_fault,
            "async_seconds": state.async_seconds,
        }
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)  # registered for HTTPException only
    # Unknown paths and methods still answer in the upstream error shape.
    return JSONResponse(
        {"error": {"code": str(exc.status_code), "message": exc.detail}},
        status_code=exc.status_code,
    )
