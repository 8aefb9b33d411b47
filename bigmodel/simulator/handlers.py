"""The BigModel endpoints. Each handler gets an authenticated, parsed JSON body."""

from __future__ import annotations

import hashlib
import json
import math
import random
import secrets
import time

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .chat import AsyncTask, completion_body, last_user_text, make_reply, new_task_id
from .errors import MSG_BAD_MESSAGES, MSG_TASK_MISSING, ApiError, invalid
from .faults import strip_markers
from .images import render_png
from .replies import count_tokens
from .state import SimState
from .streaming import EventStream, chat_events, once
from .validation import check_chat, check_embeddings, check_image_generation, drop_nulls

API = "/api/paas/v4"


async def chat_completions(request: Request, state: SimState, body: dict) -> Response | EventStream:
    body = drop_nulls(body)
    req = check_chat(body, state.catalogue, state.strict)
    faults = state.faults_for(last_user_text(req.messages))
    state.gate(faults, request.url.path, body)
    reply = make_reply(req, body, faults)
    if body.get("stream") is True:
        events = chat_events(reply, req.spec.name, faults, state.latency_ms)
        return EventStream(events, state)
    await state.pause(faults)
    if faults.midstream_error:
        raise ApiError(400, "1214", MSG_BAD_MESSAGES)
    payload = completion_body(reply, req.spec.name, body.get("request_id"))
    if faults.nousage:
        del payload["usage"]
    if faults.drop:
        data = json.dumps(payload, ensure_ascii=False).encode()
        return EventStream(once(data, cut=True), state, "application/json")
    return JSONResponse(payload)


async def async_submit(request: Request, state: SimState, body: dict) -> Response:
    body = drop_nulls(body)
    body.pop("stream", None)  # the async API never streams
    req = check_chat(body, state.catalogue, state.strict)
    faults = state.faults_for(last_user_text(req.messages))
    state.gate(faults, request.url.path, body)
    reply = make_reply(req, body, faults)
    request_id = body.get("request_id") or str(secrets.randbelow(10**19))
    task = AsyncTask(
        new_task_id(),
        str(request_id),
        req.spec.name,
        time.monotonic(),
        reply,
        fail=faults.task_fail,
        no_usage=faults.nousage,
    )
    state.add_task(task)
    return JSONResponse(
        {
            "id": task.task_id,
            "request_id": task.request_id,
            "model": task.model,
            "task_status": "PROCESSING",
        }
    )


async def async_result(request: Request, state: SimState, body: dict) -> Response:
    task = state.tasks.get(request.path_params["task_id"])
    if task is None:
        raise ApiError(404, "1233", MSG_TASK_MISSING)
    return JSONResponse(task.status_body(time.monotonic(), state.async_seconds))


async def image_generations(request: Request, state: SimState, body: dict) -> Response:
    body = drop_nulls(body)
    spec, prompt, (width, height) = check_image_generation(body, state.catalogue)
    faults = state.faults_for(prompt)
    state.gate(faults, request.url.path, body)
    await state.pause(faults)
    name = state.files.issue(strip_markers(prompt), width, height)
    return JSONResponse(
        {
            "created": int(time.time()),
            "data": [{"url": f"{request.base_url}files/{name}"}],
            "content_filter": [{"role": "assistant", "level": 3}],
        }
    )


async def async_images(request: Request, state: SimState, body: dict) -> Response:
    """GLM-Image's queued path: a task at once, its image link in ``image_result`` once done."""
    body = drop_nulls(body)
    spec, prompt, (width, height) = check_image_generation(body, state.catalogue)
    if not spec.async_images:  # "Only supports GLM-Image model"
        raise invalid("model")
    faults = state.faults_for(prompt)
    state.gate(faults, request.url.path, body)
    name = state.files.issue(strip_markers(prompt), width, height)
    request_id = body.get("request_id") or str(secrets.randbelow(10**19))
    task = AsyncTask(
        new_task_id(),
        str(request_id),
        spec.name,
        time.monotonic(),
        None,
        fail=faults.task_fail,
        image_url=f"{request.base_url}files/{name}",
    )
    state.add_task(task)
    head = {"id": task.task_id, "request_id": task.request_id, "model": task.model}
    return JSONResponse({**head, "task_status": "PROCESSING"})


async def serve_file(request: Request, state: SimState) -> Response:
    name = request.path_params["name"]
    issued = state.files.lookup(name)
    if issued is None:
        return JSONResponse(
            {"error": {"code": "404", "message": "文件不存在或已过期"}}, status_code=404
        )
    png = state.files.cached(name)
    if png is None:
        # Rendering is CPU work; keep the event loop free for open streams.
        png = await anyio.to_thread.run_sync(render_png, issued.prompt, issued.width, issued.height)
        state.files.remember(name, png)
    return Response(png, media_type="image/png")


async def embeddings(request: Request, state: SimState, body: dict) -> Response:
    body = drop_nulls(body)
    spec, texts, dims = check_embeddings(body, state.catalogue)
    faults = state.faults_for("\n".join(texts))
    state.gate(faults, request.url.path, body)
    await state.pause(faults)
    data = [
        {
            "embedding": embedding_vector(spec.name, strip_markers(text), dims),
            "index": i,
            "object": "embedding",
        }
        for i, text in enumerate(texts)
    ]
    tokens = sum(count_tokens(t) for t in texts)
    return JSONResponse(
        {
            "model": spec.name,
            "object": "list",
            "data": data,
            "usage": {"prompt_tokens": tokens, "completion_tokens": 0, "total_tokens": tokens},
        }
    )


def embedding_vector(model: str, text: str, dims: int) -> list[float]:
    """A unit-length vector seeded by (model, dims, text): equal texts, equal vectors."""
    seed = hashlib.sha256(f"{model}\0{dims}\0{text}".encode()).digest()
    rng = random.Random(seed)
    values = [rng.gauss(0.0, 1.0) for _ in range(dims)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]
