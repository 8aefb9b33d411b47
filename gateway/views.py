"""The BigModel-compatible endpoint (``/api/paas/v4/``): the same paths, bodies and errors as
BigModel, called with a member's key, forwarded with the site's.

A call is metered however its caller behaves: the upstream is always read to its end (and its
usage) by a task of its own, so a caller that leaves mid-stream or before a plain answer arrives
is still billed exactly, once."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse, HttpResponseBase, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from bigmodel.errors import BigModelError
from config.upstream import async_upstream
from gateway import services

log = logging.getLogger(__name__)
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
RELAY_FAILED = "The console failed to relay this call; its log has the details."
_metering: set[asyncio.Task] = set()  # calls still being read, whoever is waiting for them


def _error(status: int, code: int | str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": str(code), "message": message}}, status=status)


def _upstream_error(error: BigModelError) -> JsonResponse:
    """BigModel's own answer, passed on (a network failure is a 502)."""
    return _error(error.http_status or 502, error.code, error.upstream_message or str(error))


def _detached(work: Awaitable) -> asyncio.Task:
    """Run ``work`` to its end even if the request that started it is cancelled."""
    task = asyncio.ensure_future(work)
    _metering.add(task)
    task.add_done_callback(_metering.discard)
    return task


@csrf_exempt
@login_not_required
@require_POST
async def chat_completions(request) -> HttpResponseBase:
    try:
        admitted = await sync_to_async(services.admit_chat)(
            request.headers.get("Authorization"), request.body
        )
    except services.Refused as refused:
        return _error(refused.status, refused.code, refused.message)
    if admitted.body.get("stream"):
        return await _streamed(admitted)
    return await asyncio.shield(_detached(_plain(admitted)))


async def _plain(admitted: services.Admitted) -> HttpResponse:
    try:
        result = await async_upstream().chat(admitted.body)
    except BigModelError as error:
        await sync_to_async(services.chat_release)(admitted)
        return _upstream_error(error)
    searched = bool(result.raw.get("web_search"))
    await sync_to_async(services.chat_record)(
        admitted, result.usage, text=result.reasoning_content + result.content, searched=searched
    )
    return JsonResponse(result.raw)


async def _streamed(admitted: services.Admitted) -> HttpResponseBase:
    """The upstream's chunks as it sends them. An error before the first one is answered with its
    own status, as BigModel answers it; one after it ends the stream with an error event."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    opened: asyncio.Future[BigModelError | None] = asyncio.get_running_loop().create_future()
    _detached(_read_stream(admitted, queue, opened))
    failed = await opened
    if failed is not None:
        return _upstream_error(failed)
    return StreamingHttpResponse(
        _relay(queue), content_type="text/event-stream", headers=SSE_HEADERS
    )


async def _relay(queue: asyncio.Queue[str | None]) -> AsyncIterator[str]:
    while (event := await queue.get()) is not None:
        yield event


def _event(payload: dict) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}\n\n"


async def _read_stream(
    admitted: services.Admitted,
    queue: asyncio.Queue[str | None],
    opened: asyncio.Future[BigModelError | None],
) -> None:
    """Read the upstream stream to its end whatever the caller does, then record its usage."""
    arrived: list[str] = []
    searched = False
    usage = None
    try:
        async with async_upstream().chat_stream(admitted.body) as stream:
            opened.set_result(None)
            async for chunk in stream:
                searched = searched or bool(chunk.search_results)
                arrived.append(chunk.reasoning_delta + chunk.delta)
                queue.put_nowait(_event(chunk.raw))
        usage = stream.usage
        queue.put_nowait("data: [DONE]\n\n")
    except BigModelError as error:
        if not opened.done():  # nothing was made: nothing is billed
            await sync_to_async(services.chat_release)(admitted)
            opened.set_result(error)
            return
        message = error.upstream_message or str(error)
        queue.put_nowait(_event({"error": {"code": str(error.code), "message": message}}))
    except Exception:  # never leave a call unmetered because of a bug; log it
        log.exception("gateway stream %s failed", admitted.request_id)
        if not opened.done():
            await sync_to_async(services.chat_release)(admitted)
            opened.set_result(
                BigModelError(code="500", http_status=500, upstream_message=RELAY_FAILED)
            )
            return
    finally:
        queue.put_nowait(None)
    await sync_to_async(services.chat_record)(
        admitted, usage, text="".join(arrived), searched=searched
    )
