"""A chat reply, from its one upstream call to its final row: the runner, what it produces
(:class:`Outcome`) and finishing the reply, and stopping replies (finishing orphaned ones is
:mod:`playground.orphans`).

The runner runs on the event loop of the web process that saved the reply, detached from any
request: it reads the upstream stream and publishes each delta to the reply's stream in Redis
(:mod:`playground.reply_stream`), which every browser connection reads, so closing the tab never
stops the reply and a reconnect never makes a second upstream call."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from redis.exceptions import RedisError

from accounts.models import UsageRecord
from accounts.services.holds import hold_release
from accounts.services.usage import chat_usage_record
from bigmodel.client import AsyncChatStream
from bigmodel.errors import BigModelError
from bigmodel.sse import Usage
from bigmodel.usage import Arrived
from playground.models import Conversation, Message
from playground.reply_parts import kept_calls, kept_source
from playground.reply_stream import ALIVE_SECONDS, ReplyStream, keep_alive
from runtime.lanes import on_lane
from runtime.shutdown import finish_before_exit
from runtime.upstream import async_upstream

log = logging.getLogger(__name__)
# Two beats may be missed before the sweeper takes a running reply for dead.
HEARTBEAT_SECONDS = ALIVE_SECONDS / 3
FIRST_WRITE_WAIT_SECONDS = 0.05


@dataclass(frozen=True)
class Outcome:
    """How a reply ended, as its runner (or the sweeper) saw it."""

    status: str
    content: str
    reasoning: str = ""
    sources: list[dict] = field(default_factory=list)
    tool_calls: list[dict] = field(default_factory=list)
    finish_reason: str = ""
    arrived: Arrived | None = None  # what came back, to bill it by; None: nothing to bill
    ttft_ms: int | None = None
    latency_ms: int | None = None
    error_code: str = ""
    error_message: str = ""


def _usage_columns(record: UsageRecord | None) -> dict:
    """The message's own copy of its call's figures, as its record has them."""
    if record is None:
        return {"prompt_tokens": None, "completion_tokens": None}
    return {
        "prompt_tokens": record.prompt_tokens,
        "cached_tokens": record.cached_tokens,
        "completion_tokens": record.completion_tokens,
        "reasoning_tokens": record.reasoning_tokens,
        "usage_exact": record.exact,
    }


@transaction.atomic
def reply_finish(*, message_id: int, request_id: str, outcome: Outcome) -> Message | None:
    """running → final, once, and the call billed (or its hold released) by its request id, even
    when the message is gone: its hold says who pays. Returns None when the message had already
    been finished or deleted."""
    record = None
    if outcome.arrived is not None:  # the upstream worked on it: it is billed
        record = chat_usage_record(request_id=request_id, arrived=outcome.arrived)
    else:
        hold_release(request_id=request_id)
    updated = Message.objects.filter(id=message_id, status=Message.Status.RUNNING).update(
        status=outcome.status,
        content=outcome.content,
        reasoning_content=outcome.reasoning,
        sources=outcome.sources,
        tool_calls=outcome.tool_calls,
        finish_reason=outcome.finish_reason,
        **_usage_columns(record),
        ttft_ms=outcome.ttft_ms,
        latency_ms=outcome.latency_ms,
        error_code=outcome.error_code,
        error_message=outcome.error_message,
        finished_at=timezone.now(),
    )
    if not updated:
        return None
    message = Message.objects.select_related("conversation__user", "team").get(id=message_id)
    Conversation.objects.filter(id=message.conversation_id).update(updated_at=timezone.now())
    return message


def render_final(message: Message) -> str:
    return render_to_string("playground/_message.html", {"message": message, "final_event": True})


def publish_final(stream: ReplyStream, message: Message) -> None:
    stream.finish(render_final(message))


# --------------------------------------------------------------------------- running here


@dataclass
class _Running:
    task: asyncio.Task
    stream: ReplyStream


_running: dict[int, _Running] = {}
_heartbeat: asyncio.Task | None = None


def reply_start(message_id: int, stream: ReplyStream, body: dict) -> None:
    """Start the reply on this process's event loop; it outlives the request that started it. A
    fresh context and a lane of its own: the request's own end with the request."""
    global _heartbeat
    task = asyncio.create_task(
        on_lane(_run(message_id, stream, body)),
        name=f"reply-{message_id}",
        context=contextvars.Context(),
    )
    _running[message_id] = _Running(task, stream)
    finish_before_exit(task)  # a restart saves it (bounded), rather than leave it to the sweeper
    task.add_done_callback(lambda _: _running.pop(message_id, None))
    if _heartbeat is None or _heartbeat.done() or _heartbeat.get_loop() is not task.get_loop():
        _heartbeat = asyncio.create_task(_beat(), name="reply-heartbeat")


async def _beat() -> None:
    """Tells the sweeper that this process's replies are alive, however long the upstream is
    silent: one write for all of them every few seconds, while there are any."""
    while _running:
        try:
            await keep_alive(running.stream for running in list(_running.values()))
        except RedisError:
            pass  # the sweeper cannot run without Redis either
        await asyncio.sleep(HEARTBEAT_SECONDS)


async def reply_stop(stream: ReplyStream, message_id: int) -> None:
    """Stop a running reply wherever it runs: at once when it runs here, and through its stop
    stream for a runner in another web process."""
    running = _running.get(message_id)
    if running is not None:
        running.task.cancel()
    else:
        await stream.ask_stop()


async def stop_all_local() -> None:
    """Stop every reply this process runs and wait until each is saved (a shutdown)."""
    tasks = [running.task for running in _running.values()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if _heartbeat is not None and _heartbeat.get_loop() is asyncio.get_running_loop():
        _heartbeat.cancel()  # nothing left to keep alive
        await asyncio.gather(_heartbeat, return_exceptions=True)


# --------------------------------------------------------------------------- the runner


class _Relay:
    """Mirrors the reply (and the thinking before it) into its stream as it arrives; the text
    itself is the upstream stream's, kept once.

    Writes never hold up reading the upstream: one write is in flight at a time, and deltas that
    arrive meanwhile go out together in the next one (thinking and answer apart, in order), so a
    busy process makes fewer, larger writes. A write is a callback on its entries' futures, not a
    task: a task a delta costs more than the delta."""

    def __init__(self, stream: ReplyStream):
        self.stream = stream
        self.upstream: AsyncChatStream | None = None  # once the upstream call is open
        self.sources: list[dict] = []
        self.answered = False  # a chunk of the answer arrived
        self.searched = False  # the search's results arrived
        self.unsent: list[tuple[bool, str]] = []  # (thinking, text)
        self.writing: list[asyncio.Future[str]] = []  # the write in flight, an entry a run
        self.started = time.monotonic()
        self.ttft_ms: int | None = None
        self.mirroring = True

    @property
    def text(self) -> str:
        return self.upstream.content if self.upstream else ""

    @property
    def reasoning(self) -> str:
        return self.upstream.reasoning_content if self.upstream else ""

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    def delta(self, text: str, *, thinking: bool = False) -> None:
        if self.ttft_ms is None:  # the first token, of thinking or of the answer
            self.ttft_ms = self.elapsed_ms()
        if not self.mirroring:
            return
        self.unsent.append((thinking, text))
        if not self.writing:
            self._write()

    def _write(self) -> None:
        """What is unsent, as one entry a run of thinking or of answer, in order."""
        runs = [
            (thinking, "".join(text for _, text in run))
            for thinking, run in itertools.groupby(self.unsent, key=lambda part: part[0])
        ]
        self.unsent.clear()
        self.writing = [self.stream.publish(text, thinking=thinking) for thinking, text in runs]
        # The entries of one write go out in one batch, so the last is done when all are.
        self.writing[-1].add_done_callback(self._written)

    def _written(self, _: asyncio.Future) -> None:
        written, self.writing = self.writing, []
        errors = [f.exception() for f in written if not f.cancelled()]
        if failed := next((error for error in errors if error is not None), None):
            # Live display is lost, the reply is not: keep reading upstream and save it whole.
            log.warning(
                "Redis unavailable (%r); reply %s continues without live streaming",
                failed,
                self.stream.public_id,
            )
            self.mirroring = False
        elif self.unsent and self.mirroring:
            self._write()

    def show_sources(self) -> None:
        """The pages the search read, to the page as they arrive (a lost write loses only
        the links while it streams: the saved reply has them)."""
        if self.mirroring and self.sources:
            sent = self.stream.publish_sources(self.sources)
            sent.add_done_callback(lambda written: written.cancelled() or written.exception())

    async def first_out(self) -> None:
        """Let the write that carries the first token land before the rest of the read is worked
        through: an upstream that sends much at once would otherwise hold the first token back
        until its last chunk was parsed. Bounded, so an unanswering Redis never holds up the
        upstream."""
        if self.writing:
            await asyncio.wait(self.writing, timeout=FIRST_WRITE_WAIT_SECONDS)

    async def drain(self) -> None:
        """Let the last write land, so the final event follows every delta."""
        while self.writing:
            await asyncio.wait(self.writing)


async def _run(message_id: int, stream: ReplyStream, body: dict) -> None:
    """The one upstream call of a running reply, saved and billed however it ends."""
    relay, runner = _Relay(stream), asyncio.current_task()
    assert runner is not None  # a reply runs as a task of its own (reply_start)
    try:
        # A Stop pressed in another web process arrives on the reply's stop stream (one pressed
        # in this one cancels the runner directly).
        async with stream.stop_requests(runner.cancel):
            outcome = await _stream(body, relay)
    except asyncio.CancelledError:
        outcome = _stopped(relay)
    except BigModelError as error:
        outcome = _failed(relay, error)
    except Exception as error:  # never leave a reply running because of a bug; log it
        log.exception("reply %s failed", message_id)
        outcome = _failed(relay, error)
    with contextlib.suppress(asyncio.CancelledError):  # a Stop as it ended: it is over either way
        await relay.drain()
    await _finish(message_id, body["request_id"], stream, outcome)


async def _stream(body: dict, relay: _Relay) -> Outcome:
    async with async_upstream().chat_stream(body) as stream:
        relay.upstream = stream
        async for chunk in stream:
            waiting_first = relay.ttft_ms is None
            relay.answered = True
            if chunk.search_results:
                relay.searched = True
                relay.sources += [
                    source for s in chunk.search_results if (source := kept_source(s))
                ]
                relay.show_sources()
            if chunk.reasoning_delta:
                relay.delta(chunk.reasoning_delta, thinking=True)
            if chunk.delta:
                relay.delta(chunk.delta)
            if waiting_first and relay.ttft_ms is not None:
                await relay.first_out()
    return _ended(
        relay,
        stream.usage,
        status=Message.Status.DONE,
        finish_reason=stream.finish_reason or "",
        tool_calls=kept_calls(stream.tool_calls),
    )


def _ended(relay: _Relay, usage: Usage | None, **fields: Any) -> Outcome:
    """The reply as far as it got, with what came back to bill it by."""
    arrived = Arrived(
        usage=usage,
        thinking=relay.reasoning,
        text=relay.text,
        tool_calls=tuple(fields.get("tool_calls", ())),
        listed=relay.searched if relay.answered else None,
    )
    return Outcome(
        content=relay.text,
        reasoning=relay.reasoning,
        sources=relay.sources,
        arrived=arrived,
        ttft_ms=relay.ttft_ms,
        latency_ms=relay.elapsed_ms(),
        **fields,
    )


def _stopped(relay: _Relay) -> Outcome:
    return _ended(relay, None, status=Message.Status.STOPPED, finish_reason="stopped")


def _failed(relay: _Relay, error: Exception) -> Outcome:
    if isinstance(error, BigModelError):
        code, text = str(error.code), str(error)
    else:
        code, text = "error", "Unexpected error in the app; the server log has the details."
    # Something was made (and billed upstream): keep it, estimated.
    if relay.text or relay.reasoning:
        return _ended(
            relay,
            None,
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


def _save(message_id: int, request_id: str, stream: ReplyStream, outcome: Outcome) -> None:
    try:
        message = reply_finish(message_id=message_id, request_id=request_id, outcome=outcome)
        if message is None:
            return
        try:
            publish_final(stream, message)
        except RedisError:
            log.warning(
                "Redis unavailable; reply %s is saved, readers find it on reload", message_id
            )
    finally:
        close_old_connections()  # outside a request nothing else returns it to PostgreSQL's pool


async def _finish(message_id: int, request_id: str, stream: ReplyStream, outcome: Outcome) -> None:
    # Shielded: a second cancel (server shutting down) must not lose the saved reply.
    await asyncio.shield(sync_to_async(_save)(message_id, request_id, stream, outcome))


def reply_stream_of(message: Message) -> ReplyStream:
    return ReplyStream(user_id=message.conversation.user_id, public_id=message.public_id)
