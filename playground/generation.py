"""Running a reply detached from the browser.

The runner reads the upstream stream and appends each delta to a Redis stream keyed by the
message; any number of SSE connections (a reload, a reconnect, a second tab) read from Redis,
so closing the tab never stops the reply and a reconnect never makes a second upstream
call."""

import asyncio
import contextvars
import logging
import time
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections
from django.template.loader import render_to_string
from django.utils import timezone
from redis.exceptions import RedisError

from bigmodel.errors import BigModelError
from bigmodel.tokens import estimate_prompt_tokens, estimate_tokens
from config.redis import async_redis, redis_client
from playground.models import Message
from playground.selectors import history_for
from playground.services import BilledCall, Outcome, generation_finish
from playground.upstream import async_upstream

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 2
HEARTBEAT_TTL_SECONDS = 30
STOP_FLAG_SECONDS = 600
_running: dict[int, asyncio.Task] = {}


def stream_key(message_id: int) -> str:
    return f"gen:{message_id}"


def stop_key(message_id: int) -> str:
    return f"gen:{message_id}:stop"


def alive_key(message_id: int) -> str:
    return f"gen:{message_id}:alive"


def start_generation(message_id: int, body: dict, billed: BilledCall) -> asyncio.Task:
    """Start the reply on this process's event loop; it outlives the request that started it. A
    fresh context: the request's own (its sync-to-async executor among it) ends with the request."""
    task = asyncio.create_task(
        run_generation(message_id, body, billed),
        name=f"generation-{message_id}",
        context=contextvars.Context(),
    )
    _running[message_id] = task
    task.add_done_callback(lambda _: _running.pop(message_id, None))
    return task


def cancel_local(message_id: int) -> bool:
    task = _running.get(message_id)
    if task is None:
        return False
    task.cancel()
    return True


async def reply_stop(message_id: int) -> None:
    """Stop a running reply wherever it runs: at once when it runs here, and through Redis for a
    runner in another web process (it looks at each write and each heartbeat)."""
    if not cancel_local(message_id):
        await async_redis().set(stop_key(message_id), "1", ex=STOP_FLAG_SECONDS)


async def stop_all_local() -> None:
    """Stop every reply this process runs and wait until each is saved (a shutdown)."""
    tasks = list(_running.values())
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def render_final(message: Message) -> str:
    return render_to_string("playground/_message.html", {"message": message, "final_event": True})


def publish_final(message: Message) -> None:
    """Tell every reader the reply is over (sync: the sweeper uses it too)."""
    client = redis_client()
    key = stream_key(message.id)
    with client.pipeline() as pipe:
        pipe.xadd(key, {"t": "done", "html": render_final(message)})
        pipe.expire(key, settings.GENERATION_STREAM_TTL_SECONDS)
        pipe.delete(alive_key(message.id), stop_key(message.id))
        pipe.execute()


class _Relay:
    """Collects the reply and mirrors it into Redis as it arrives.

    Writes never hold up reading the upstream: one write is in flight at a time, and deltas that
    arrive meanwhile go out together in the next one, so a busy process makes fewer, larger writes.
    Each write also tells whether someone asked to stop (from any web
    process)."""

    def __init__(self, message_id: int):
        self.message_id = message_id
        self.redis = async_redis()
        self.parts: list[str] = []
        self.unsent: list[str] = []
        self.writer: asyncio.Task | None = None
        self.started = time.monotonic()
        self.ttft_ms: int | None = None
        self.mirroring = True
        self.stop_requested = False

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    def delta(self, text: str) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = self.elapsed_ms()
        self.parts.append(text)
        if not self.mirroring:
            return
        self.unsent.append(text)
        if self.writer is None or self.writer.done():
            self.writer = asyncio.create_task(self._write())

    async def _write(self) -> None:
        while self.unsent and self.mirroring:
            text = "".join(self.unsent)
            self.unsent.clear()
            pipe = self.redis.pipeline(transaction=False)
            pipe.xadd(stream_key(self.message_id), {"t": "delta", "d": text})
            pipe.exists(stop_key(self.message_id))
            try:
                _, stop = await pipe.execute()
            except RedisError as error:
                # Live display is lost, the reply is not: keep reading upstream and save it whole.
                log.warning(
                    "Redis unavailable (%r); reply %s continues without live streaming",
                    error,
                    self.message_id,
                )
                self.mirroring = False
                return
            self.stop_requested = self.stop_requested or bool(stop)

    async def drain(self) -> None:
        """Let the last write land, so the final event follows every delta."""
        if self.writer is not None:
            await asyncio.shield(self.writer)


async def run_generation(message_id: int, body: dict, billed: BilledCall) -> None:
    """The one upstream call of a running reply, saved and billed however it ends."""
    history = body["messages"]
    relay = _Relay(message_id)
    heartbeat = asyncio.create_task(_heartbeat(message_id, asyncio.current_task()))
    try:
        outcome = await _stream(body, relay)
    except asyncio.CancelledError:
        outcome = _stopped(relay, history)
    except BigModelError as error:
        outcome = _failed(relay, history, error)
    except Exception as error:  # never leave a reply running because of a bug; log it
        log.exception("generation %s failed", message_id)
        outcome = _failed(relay, history, error)
    finally:
        heartbeat.cancel()
    try:
        await relay.drain()
    except asyncio.CancelledError:
        pass  # a Stop that came as the reply ended: it is over either way, and is saved below
    await _finish(message_id, outcome, billed)


async def _heartbeat(message_id: int, runner: asyncio.Task | None) -> None:
    """Tells the sweeper this reply's runner is alive, however long the upstream is silent, and
    hears a Stop from another web process while no delta is being written."""
    redis = async_redis()
    while True:
        try:
            pipe = redis.pipeline(transaction=False)
            pipe.set(alive_key(message_id), "1", ex=HEARTBEAT_TTL_SECONDS)
            pipe.exists(stop_key(message_id))
            _, stop = await pipe.execute()
        except RedisError:
            stop = False  # the sweeper cannot run without Redis either
        if stop and runner is not None:
            runner.cancel()
            return
        await asyncio.sleep(HEARTBEAT_SECONDS)


async def _stream(body: dict, relay: _Relay) -> Outcome:
    async with async_upstream().chat_stream(body) as stream:
        async for chunk in stream:
            if chunk.delta:
                relay.delta(chunk.delta)
            if relay.stop_requested:
                raise asyncio.CancelledError  # Stop pressed in another web process
    finish_reason, usage = stream.finish_reason or "", stream.usage
    if usage is None:  # the upstream left usage out: count it ourselves, flagged
        return Outcome(
            status=Message.Status.DONE,
            content=relay.text,
            finish_reason=finish_reason,
            prompt_tokens=estimate_prompt_tokens(body["messages"]),
            completion_tokens=estimate_tokens(relay.text),
            usage_exact=False,
            ttft_ms=relay.ttft_ms,
            latency_ms=relay.elapsed_ms(),
        )
    return Outcome(
        status=Message.Status.DONE,
        content=relay.text,
        finish_reason=finish_reason,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        ttft_ms=relay.ttft_ms,
        latency_ms=relay.elapsed_ms(),
    )


def _estimated(relay: _Relay, history: list[dict], **fields) -> Outcome:
    return Outcome(
        content=relay.text,
        prompt_tokens=estimate_prompt_tokens(history),
        completion_tokens=estimate_tokens(relay.text),
        usage_exact=False,
        ttft_ms=relay.ttft_ms,
        latency_ms=relay.elapsed_ms(),
        **fields,
    )


def _stopped(relay: _Relay, history: list[dict]) -> Outcome:
    return _estimated(relay, history, status=Message.Status.STOPPED, finish_reason="stopped")


def _failed(relay: _Relay, history: list[dict], error: Exception) -> Outcome:
    if isinstance(error, BigModelError):
        code, text = str(error.code), str(error)
    else:
        code, text = "error", "Unexpected error in the app; the server log has the details."
    partial = getattr(error, "partial_text", "") or relay.text
    relay.parts = [partial]
    if partial:  # something was delivered (and billed upstream): keep it with an estimate
        return _estimated(
            relay,
            history,
            status=Message.Status.FAILED,
            error_code=code,
            error_message=f"{text} What had arrived is kept above.",
        )
    return Outcome(
        status=Message.Status.FAILED,
        content="",
        error_code=code,
        error_message=text,
        latency_ms=relay.elapsed_ms(),
    )


def _save(message_id: int, outcome: Outcome, billed: BilledCall) -> Message | None:
    try:
        return generation_finish(message_id=message_id, outcome=outcome, billed=billed)
    finally:
        close_old_connections()  # outside a request nothing else hands the connection back


async def _finish(message_id: int, outcome: Outcome, billed: BilledCall) -> None:
    # Shielded: a second cancel (server shutting down) must not lose the saved reply.
    message = await asyncio.shield(sync_to_async(_save)(message_id, outcome, billed))
    if message is not None:
        try:
            await asyncio.shield(sync_to_async(publish_final)(message))
        except RedisError:
            log.warning(
                "Redis unavailable; reply %s is saved, readers will find it on reload", message_id
            )


STALE_AFTER = timedelta(seconds=60)
INTERRUPTED = (
    "The reply was interrupted (the app restarted while writing it); what had arrived is kept."
)


def generation_sweep(*, now=None) -> list[int]:
    """Finish replies whose runner died (a restart, a crash): running with no heartbeat.
    Keeps what reached Redis, with estimated usage. Returns their ids."""
    now = now or timezone.now()
    stale = Message.objects.filter(status=Message.Status.RUNNING, started_at__lt=now - STALE_AFTER)
    return [
        message.id
        for message in stale.select_related("conversation__user")
        if _finish_if_orphaned(message)
    ]


def _finish_if_orphaned(message: Message) -> bool:
    """Finish a running reply whose runner is gone (no heartbeat), billed as estimated from what
    reached Redis. False when its runner is alive, just slow, or it was finished meanwhile."""
    redis = redis_client()
    if redis.exists(alive_key(message.id)):
        return False
    entries = redis.xrange(stream_key(message.id))
    text = "".join(fields.get("d", "") for _, fields in entries if fields.get("t") == "delta")
    history = history_for(conversation=message.conversation, before_id=message.id)
    outcome = Outcome(
        status=Message.Status.FAILED,
        content=text,
        error_code="interrupted",
        error_message=INTERRUPTED,
        prompt_tokens=estimate_prompt_tokens(history) if text else None,
        completion_tokens=estimate_tokens(text) if text else None,
        usage_exact=False,
    )
    final = generation_finish(
        message_id=message.id, outcome=outcome, billed=BilledCall.of_reply(message)
    )
    if final is None:
        return False
    publish_final(final)
    return True


DELETE_WAIT_SECONDS = 5.0


async def replies_stop_and_settle(
    conversation_id: int, *, wait: float = DELETE_WAIT_SECONDS
) -> None:
    """Before a conversation is deleted: stop its running replies and wait until each is saved and
    billed (estimated). A reply whose runner is gone is finished here; one whose runner is alive but
    slow to hear the Stop bills itself from what it holds, whatever became of its rows."""
    running = Message.objects.filter(conversation_id=conversation_id, status=Message.Status.RUNNING)
    ids = [message_id async for message_id in running.values_list("id", flat=True)]
    for message_id in ids:
        await reply_stop(message_id)
    deadline = time.monotonic() + wait
    while ids and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        ids = [
            message_id
            async for message_id in running.filter(id__in=ids).values_list("id", flat=True)
        ]
    for message in [
        m async for m in running.filter(id__in=ids).select_related("conversation__user")
    ]:
        await sync_to_async(_finish_if_orphaned)(message)
