"""The BigModel-compatible endpoint (``/api/paas/v4/``): the same paths, bodies and errors as
BigModel, called with a member's key, forwarded with the site's.

A call is metered however its caller behaves: admission and the upstream call run as tasks of
their own, so a caller that leaves while its call is admitted, before a plain answer arrives or
mid-stream still has its hold released or its call read to its end (and its usage) and billed
exactly, once."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_not_required
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
)
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from bigmodel.client import AsyncChatStream
from bigmodel.errors import AccountError, AuthenticationError, BigModelError, ConfigurationError
from bigmodel.usage import Arrived
from gateway import services
from gateway.calls import CHAT, EMBEDDINGS, IMAGES, QUEUED_CHAT, Kind
from gateway.models import QueuedCall
from gateway.queued import queued_for, queued_settle, queued_submitted
from runtime.lanes import on_lane
from runtime.shutdown import finish_before_exit
from runtime.sse import event_stream, json_event
from runtime.upstream import async_upstream

log = logging.getLogger(__name__)
CONSOLE_FAILED = "The console failed to make this call; its log has the details."
# The site's own account refused (its key, its balance): the console's problem, not the caller's.
SITE_ACCOUNT = (AuthenticationError, AccountError, ConfigurationError)
SITE_REFUSED = "The console's own BigModel account could not make this call; tell its admins."
# How long a plain call's record waits for its answer to be sent: one whose caller left is never.
SENDING_SECONDS = 1.0
AS_BIGMODEL = {"ensure_ascii": False}  # UTF-8, its Chinese as it is


def _json(payload: dict, status: int = 200) -> JsonResponse:
    return JsonResponse(payload, status=status, json_dumps_params=AS_BIGMODEL)


class _Answer(JsonResponse):
    """A plain call's answer, which says when it is out: Django closes a response (from a
    thread) once it has sent its last byte."""

    def __init__(self, payload: dict) -> None:
        super().__init__(payload, json_dumps_params=AS_BIGMODEL)
        self._loop, self.sent = asyncio.get_running_loop(), asyncio.Event()

    def close(self) -> None:
        super().close()
        self._loop.call_soon_threadsafe(self.sent.set)

    async def out(self) -> None:
        """Once the answer is out, or SENDING_SECONDS have passed."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SENDING_SECONDS):
                await self.sent.wait()


def _error(status: int, code: int | str, message: str, retry_after: int = 0) -> JsonResponse:
    response = _json({"error": {"code": str(code), "message": message}}, status=status)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


def _upstream_error(error: BigModelError) -> JsonResponse:
    """BigModel's own answer, passed on (a network failure is a 502)."""
    if isinstance(error, SITE_ACCOUNT):
        log.error("the site's BigModel account refused a gateway call: %s", error)
        return _error(500, 500, SITE_REFUSED)
    return _error(error.http_status or 502, error.code, error.upstream_message or str(error))


def _detached(work: Coroutine[Any, Any, Any]) -> asyncio.Task:
    """Run ``work`` to its end even if the request that started it is cancelled, and before the
    process exits; a failure is logged, never left unretrieved."""
    task = finish_before_exit(asyncio.ensure_future(on_lane(work)))
    task.add_done_callback(_finished)
    return task


def _finished(task: asyncio.Task) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        if not isinstance(error, services.Refused):
            log.error("gateway task failed", exc_info=error)


async def _admission(request: HttpRequest, kind: Kind) -> services.Admitted | HttpResponseBase:
    """The call admitted, or the answer refusing it."""
    authorization = request.headers.get("Authorization")
    admission = _detached(sync_to_async(services.admit)(authorization, request.body, kind))
    try:
        return await asyncio.shield(admission)
    except services.Refused as refused:
        return _error(refused.status, refused.code, refused.message, refused.retry_after)
    except asyncio.CancelledError:  # the caller left: a call admitted meanwhile is let go
        admission.add_done_callback(_let_go)
        raise
    except Exception:
        return _error(500, 500, CONSOLE_FAILED)


def _let_go(admission: asyncio.Task) -> None:
    if not admission.cancelled() and admission.exception() is None:
        _detached(sync_to_async(services.call_release)(admission.result()))


def _endpoint(
    kind: Kind, answer: Callable[[services.Admitted], Awaitable[HttpResponseBase]]
) -> Callable[[HttpRequest], Coroutine[Any, Any, HttpResponseBase]]:
    @csrf_exempt
    @login_not_required
    @require_POST
    async def view(request: HttpRequest) -> HttpResponseBase:
        admitted = await _admission(request, kind)
        if not isinstance(admitted, services.Admitted):
            return admitted
        return await answer(admitted)

    return view


async def _chat(admitted: services.Admitted) -> HttpResponseBase:
    if admitted.body.get("stream"):
        return await _streamed(admitted)
    return await _plain(
        admitted, lambda: async_upstream().chat(admitted.body), services.chat_answer_record
    )


async def _embeddings(admitted: services.Admitted) -> HttpResponseBase:
    body = admitted.body  # encoding_format is not sent on: BigModel answers with floats
    embed = async_upstream().embeddings
    return await _plain(
        admitted,
        lambda: embed(model=body["model"], input=body["input"], dimensions=body.get("dimensions")),
        services.embeddings_record,
    )


async def _images(admitted: services.Admitted) -> HttpResponseBase:
    return await _plain(
        admitted, lambda: async_upstream().images_generate(**admitted.body), services.image_record
    )


async def _queued(admitted: services.Admitted) -> HttpResponseBase:
    # Its task is kept before it is answered: the caller asks for its result by that task's id.
    return await _plain(
        admitted,
        lambda: async_upstream().async_chat_submit(admitted.body),
        queued_submitted,
        answer_first=False,
    )


@login_not_required
@require_GET
async def async_result(request: HttpRequest, task_id: str) -> HttpResponseBase:
    """A queued call's result, as BigModel gives it; the first SUCCESS or FAIL seen settles it."""
    try:
        call = await sync_to_async(queued_for)(request.headers.get("Authorization"), task_id)
    except services.Refused as refused:
        return _error(refused.status, refused.code, refused.message)
    try:
        result = await async_upstream().async_chat_result(task_id)
    except BigModelError as error:
        return _upstream_error(error)
    await asyncio.shield(_detached(_recorded(queued_settle, call, result)))
    return _json(result)


async def _plain(
    admitted: services.Admitted,
    send: Callable[[], Awaitable[Any]],
    record: Callable[[services.Admitted, Any], Any],
    *,
    answer_first: bool = True,
) -> HttpResponse:
    """One call upstream, run to its end whoever waits for it: the answer passed on, its usage
    recorded once (a refusal or a failure releases its hold). Unless the record must come first,
    the answer does not wait for it: the call's place among the key's calls in flight is given
    back before the answer, and its hold, which admission counts at its worst case, stays until
    the record takes its place. The record waits for the answer to be out, so that the two do not
    compete for the interpreter."""

    watch = services.Stopwatch()

    async def forward() -> HttpResponse:
        try:
            with watch("upstream"):
                answer = await send()
        except BigModelError as error:
            await sync_to_async(services.call_release)(admitted)
            return _upstream_error(error)
        except Exception:  # a bug: nothing to bill, and an answer in BigModel's shape
            log.exception("gateway call %s failed", admitted.request_id)
            await sync_to_async(services.call_release)(admitted)
            return _error(500, 500, CONSOLE_FAILED)
        await admitted.place.agive_back()  # the upstream call is over
        response = _Answer(getattr(answer, "raw", answer))
        if answer_first:

            async def once_out() -> None:
                await response.out()
                await _recorded(record, admitted, answer)

            _detached(once_out())
        else:
            with watch("record"):
                await _recorded(record, admitted, answer)
        return _timed(response, admitted.timings | watch.laps)

    return await asyncio.shield(_detached(forward()))


def _timed[R: HttpResponseBase](response: R, laps: dict[str, float]) -> R:
    """Server-Timing: what each step of the call took here (upstream included)."""
    response["Server-Timing"] = ", ".join(f"{name};dur={ms:.2f}" for name, ms in laps.items())
    return response


async def _recorded(
    record: Callable[..., Any], call: services.Admitted | QueuedCall, *args: Any, **kwargs: Any
) -> None:
    """The call's usage record, tried again while the database is busy (a locked SQLite). Past
    that the answer still goes to its caller and the call is not lost: its hold stays and is billed
    at its worst case when it expires (a queued call is settled by the sweep)."""
    for attempt in range(3):
        try:
            await sync_to_async(record)(call, *args, **kwargs)
            return
        except Exception:
            if attempt == 2:
                log.exception("gateway call %s was not recorded; its hold stays", call.request_id)
                return
            await asyncio.sleep(0.5 * (attempt + 1))


async def _streamed(admitted: services.Admitted) -> HttpResponseBase:
    """The upstream's chunks as it sends them. An error before the first one is answered with its
    own status, as BigModel answers it; one after it ends the stream with an error event."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    opened: asyncio.Future[BigModelError | None] = asyncio.get_running_loop().create_future()
    _detached(_read_stream(admitted, queue, opened))
    failed = await asyncio.shield(opened)  # the caller leaving must not cancel the reader's signal
    if failed is not None:
        return _upstream_error(failed)
    response = event_stream(_relay(queue))
    return _timed(response, admitted.timings)


async def _relay(queue: asyncio.Queue[str | None]) -> AsyncIterator[str]:
    while (event := await queue.get()) is not None:
        yield event


def _signal(opened: asyncio.Future, outcome: BigModelError | None) -> None:
    if not opened.done():
        opened.set_result(outcome)


async def _read_stream(
    admitted: services.Admitted,
    queue: asyncio.Queue[str | None],
    opened: asyncio.Future[BigModelError | None],
) -> None:
    """Read the upstream stream to its end whatever the caller does, then record its usage and
    end the caller's stream."""
    stream: AsyncChatStream | None = None  # once open: it keeps what arrived
    listed: bool | None = None  # whether the search's pages came (None: no chunk did)
    usage, ended = None, False
    try:
        async with async_upstream().chat_stream(admitted.body) as stream:
            _signal(opened, None)
            async for chunk in stream:
                listed = bool(listed) or bool(chunk.search_results)
                queue.put_nowait(json_event(chunk.raw))
        usage, ended = stream.usage, True
    except BigModelError as error:
        if stream is None:  # nothing was made: nothing is billed
            await sync_to_async(services.call_release)(admitted)
            _signal(opened, error)
            return
        message = error.upstream_message or str(error)
        queue.put_nowait(json_event({"error": {"code": str(error.code), "message": message}}))
    except Exception:  # never leave a call unmetered because of a bug; log it
        log.exception("gateway stream %s failed", admitted.request_id)
        if stream is None:
            await sync_to_async(services.call_release)(admitted)
            _signal(
                opened, BigModelError(code="500", http_status=500, upstream_message=CONSOLE_FAILED)
            )
            return
    await admitted.place.agive_back()  # the upstream call is over
    try:  # the stream ends once its call is recorded (or left to its hold)
        arrived = Arrived(
            usage=usage,
            thinking=stream.reasoning_content,
            text=stream.content,
            tool_calls=tuple(stream.tool_calls),
            listed=listed,
        )
        await _recorded(services.chat_record, admitted, arrived)
        if ended:
            queue.put_nowait("data: [DONE]\n\n")
    finally:
        queue.put_nowait(None)


chat_completions = _endpoint(CHAT, _chat)
embeddings = _endpoint(EMBEDDINGS, _embeddings)
images_generations = _endpoint(IMAGES, _images)
async_chat_completions = _endpoint(QUEUED_CHAT, _queued)
