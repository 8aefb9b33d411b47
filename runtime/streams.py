"""Redis streams that browsers follow, read through one shared connection per web process.

A writer appends an entry with :func:`append` (or :func:`aappend`): XADD, and a PUBLISH of the
same entry on a channel named after the stream, in one script, so one round trip. A reader
follows a stream from a cursor with :func:`follow`: what the stream holds past the cursor comes
first (one XREAD), then every new entry as it is published. However many readers a process has,
they share one subscribed connection that hands each entry to the readers of its stream; no
reader holds a connection of its own or polls.

An entry is ``(id, fields)`` as XREAD gives it: ids are ``"<ms>-<seq>"`` and grow.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, cast

from redis.asyncio.client import PubSub
from redis.exceptions import NoScriptError, RedisError, ResponseError

from runtime import keys
from runtime.loops import per_loop
from runtime.redis import async_redis, redis_client, redis_url

log = logging.getLogger(__name__)
Entry = tuple[str, dict[str, str]]

# KEYS: the stream, then keys to delete once it is over. ARGV: the seconds the stream is kept
# after this entry ("0": it goes on), then the entry's fields as name, value pairs. Returns the
# entry's id. The published message is "<id> <fields as a JSON array>".
APPEND = """
local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))
redis.call('PUBLISH', KEYS[1], id .. ' ' .. cjson.encode({unpack(ARGV, 2)}))
local ttl = tonumber(ARGV[1])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
end
return id
"""


def _args(fields: dict[str, str], keep_seconds: int) -> list[str]:
    return [str(keep_seconds), *(part for pair in fields.items() for part in pair)]


_scripts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _append_script(client: Any) -> Any:
    # One per client: a Script hashes its source once and then runs by EVALSHA.
    script = _scripts.get(client)
    if script is None:
        script = _scripts[client] = client.register_script(APPEND)
    return script


def append(
    key: str, fields: dict[str, str], *, keep_seconds: int = 0, delete: Iterable[str] = ()
) -> str:
    """Add an entry and tell the stream's readers; with ``keep_seconds`` it is the last one: the
    stream expires that long after, and the ``delete`` keys go now."""
    script = _append_script(redis_client())
    return script(keys=[key, *delete], args=_args(fields, keep_seconds))


def append_all(entries: Iterable[tuple[str, dict[str, str]]], *, keep_seconds: int) -> None:
    """Many last entries (``(key, fields)``) in one round trip, as :func:`append` adds one."""
    client = redis_client()
    script = _append_script(client)
    with client.pipeline(transaction=False) as pipe:
        for key, fields in entries:
            script(keys=[key], args=_args(fields, keep_seconds), client=pipe)
        pipe.execute()


def aappend(
    key: str, fields: dict[str, str], *, keep_seconds: int = 0, delete: Iterable[str] = ()
) -> asyncio.Future[str]:
    """:func:`append` for asyncio: the entry's id, to await (or to be told of, by a callback).
    Appends made at once (many replies streaming in one process) go out together, in one round
    trip, each one's result to its caller, in the order they were made."""
    return _batcher().add((key, *delete), _args(fields, keep_seconds))


class _Batcher:
    """A web process's appends, gathered for a turn of its event loop and sent in one round trip:
    a command each would cost more than the deltas it carries."""

    def __init__(self) -> None:
        self._waiting: list[tuple[tuple[str, ...], list[str], asyncio.Future]] = []
        self._sender: asyncio.Task | None = None

    def add(self, keys: tuple[str, ...], args: list[str]) -> asyncio.Future:
        sent = asyncio.get_running_loop().create_future()
        self._waiting.append((keys, args, sent))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send(), name="stream-appends")
        return sent

    async def _send(self) -> None:
        await asyncio.sleep(0)  # the appends made in this turn of the loop join the first batch
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                results = await _appended(async_redis(), [(keys, args) for keys, args, _ in batch])
            except Exception as error:  # Redis down (or a bug): no caller waits forever
                results = [error] * len(batch)
            for (_, _, sent), result in zip(batch, results, strict=True):
                if sent.done():  # its caller was cancelled
                    continue
                if isinstance(result, Exception):
                    sent.set_exception(result)
                else:
                    sent.set_result(result)


async def _appended(client: Any, entries: list[tuple[tuple[str, ...], list[str]]]) -> list[Any]:
    """Each entry's id (or its error), in one round trip: EVALSHA each (a script handed to a
    pipeline costs a SCRIPT EXISTS round trip per batch). Redis forgets its scripts when it
    restarts: then the script is loaded again and what was refused is sent again, once."""
    sha = _append_script(client).sha
    results = await _evalsha_all(client, sha, entries)
    refused = [n for n, result in enumerate(results) if isinstance(result, NoScriptError)]
    if refused:
        await client.script_load(APPEND)
        again = await _evalsha_all(client, sha, [entries[n] for n in refused])
        for n, result in zip(refused, again, strict=True):
            results[n] = result
    return results


async def _evalsha_all(
    client: Any, sha: str, entries: list[tuple[tuple[str, ...], list[str]]]
) -> list[Any]:
    """The EVALSHAs sent at once on one of the pool's connections, each one's result or error.
    What a pipeline does, without its bookkeeping: this runs for every delta of every reply, and
    a pipeline of one costs the web process half as much again as the write itself."""
    pool = client.connection_pool
    connection = await pool.get_connection()
    try:
        commands = [("EVALSHA", sha, len(keys), *keys, *args) for keys, args in entries]
        await connection.send_packed_command(connection.pack_commands(commands))
        return [await _reply(connection) for _ in commands]
    except BaseException:
        await connection.disconnect()  # a reply half-read leaves the connection unusable
        raise
    finally:
        await pool.release(connection)


async def _reply(connection: Any) -> Any:
    try:
        return await connection.read_response()
    except ResponseError as error:  # this command's refusal (NOSCRIPT…): the others still stand
        return error


_batcher = per_loop(_Batcher, by=redis_url)


def _order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class Follower:
    """One reader's place in one stream: entries past its cursor, handed over in batches."""

    def __init__(self, key: str, cursor: str) -> None:
        self.key = key
        self.cursor = cursor
        self._pending: list[Entry] = []
        # Made only while a batch waits: an Event each would be kept for the stream's whole life.
        self._waiter: asyncio.Future[None] | None = None
        self._error: BaseException | None = None
        # Live entries that come while the stream's earlier entries are being read: they wait
        # for those, or they would move the cursor past them.
        self._live_early: list[Entry] | None = []

    def deliver(self, entries: list[Entry]) -> None:
        """Live entries, as they are published."""
        if self._live_early is not None:
            self._live_early += entries
        else:
            self._accept(entries)

    def caught_up(self, held: list[Entry]) -> None:
        """What the stream held past the cursor when the reader joined; then what came live."""
        early, self._live_early = self._live_early or [], None
        self._accept(held)
        self._accept(early)

    def _accept(self, entries: list[Entry]) -> None:
        fresh = [entry for entry in entries if _order(entry[0]) > _order(self.cursor)]
        if fresh:
            self._pending += fresh
            self.cursor = fresh[-1][0]
            self._wake()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def batch(self, *, timeout: float) -> list[Entry]:
        """The entries that arrived since the last batch, waiting up to ``timeout`` seconds for
        one; [] when none came. Raises the shared connection's RedisError."""
        if not self._pending and self._error is None:  # under load a batch is often waiting
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._waiter
            finally:
                self._waiter = None
        if self._error is not None:
            raise self._error
        batch, self._pending = self._pending, []
        return batch


class Watch:
    """A stream listened to for its first entry with no task waiting on it: ``heard`` is called
    once, when one comes (one already there counts). For a reader that lives as long as a reply
    and only ever needs to hear one thing: a Stop. ``async with Watch(key, heard):`` listens
    while the block runs; without Redis nothing is heard."""

    def __init__(self, key: str, heard: Callable[[], object]) -> None:
        self.key, self.cursor = key, "0-0"
        self._heard: Callable[[], object] | None = heard
        self._joining: asyncio.Task | None = None

    async def __aenter__(self) -> Watch:
        # Joined alongside the block: the block need not wait for Redis to confirm it.
        self._joining = asyncio.create_task(shared_reader().join(self))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._heard = None  # nothing is heard once the block is over
        # Shielded, as a reader's leaving is: a cancel half-way costs the shared connection.
        await asyncio.shield(self._leave())

    async def _leave(self) -> None:
        if self._joining is not None:
            with contextlib.suppress(RedisError):
                await self._joining
        await shared_reader().leave(self)

    def deliver(self, entries: list[Entry]) -> None:
        self._hear(entries)

    def caught_up(self, held: list[Entry]) -> None:
        self._hear(held)

    def fail(self, error: BaseException) -> None:
        pass  # without Redis, only what this process does itself reaches the block

    def _hear(self, entries: list[Entry]) -> None:
        if entries and self._heard is not None:
            heard, self._heard = self._heard, None
            heard()


class SharedReader:
    """The process's subscribed connection and the readers of each stream (one per event loop).

    A reader subscribes to its stream's channel and waits for Redis to confirm before it reads
    what the stream already holds, so no entry falls between the two; entries published during
    that read are handed over after it, so none is skipped or repeated."""

    def __init__(self) -> None:
        self._pubsub: PubSub | None = None
        self._listener: asyncio.Task | None = None
        self._followers: dict[str, set[Follower | Watch]] = {}
        # Per channel, a future for each SUBSCRIBE sent and not yet confirmed, oldest first: Redis
        # confirms each one, in order.
        self._confirmations: dict[str, deque[asyncio.Future]] = {}
        self._connecting = asyncio.Lock()

    async def _ensure_listening(self) -> PubSub:
        # Readers that come at once must not each open a connection: the first sets it up.
        async with self._connecting:
            if self._pubsub is None:
                pubsub = async_redis().pubsub()
                # A channel of its own keeps the connection subscribed while no stream is followed.
                await pubsub.subscribe(keys.reader_channel())
                self._listener = asyncio.create_task(self._listen(pubsub), name="stream-reader")
                self._pubsub = pubsub
            return self._pubsub

    async def _listen(self, pubsub: PubSub) -> None:
        try:
            while True:
                message = await pubsub.get_message(timeout=None)
                if message is not None:
                    self._dispatch(message)
        except RedisError as error:
            log.warning("stream reader lost Redis: %s", type(error).__name__)
            self._fail_all(error)
        except asyncio.CancelledError:
            self._fail_all(RedisError("the stream reader stopped"))
            raise

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message["channel"]
        if message["type"] == "subscribe":
            waiting = self._confirmations.get(channel)
            if waiting:
                confirmed = waiting.popleft()
                if not waiting:
                    del self._confirmations[channel]
                if not confirmed.done():
                    confirmed.set_result(None)
        elif message["type"] == "message":
            entry_id, _, flat = message["data"].partition(" ")
            parts = json.loads(flat)
            entry = (entry_id, dict(zip(parts[::2], parts[1::2], strict=True)))
            for follower in list(self._followers.get(channel, ())):
                follower.deliver([entry])

    def _fail_all(self, error: BaseException) -> None:
        for followers in self._followers.values():
            for follower in followers:
                follower.fail(error)
        for waiting in self._confirmations.values():
            for confirmed in waiting:
                if not confirmed.done():
                    confirmed.set_exception(error)
        self._followers.clear()
        self._confirmations.clear()
        self._pubsub = None  # the next reader starts afresh

    async def join(self, follower: Follower | Watch) -> None:
        pubsub = await self._ensure_listening()
        followers = self._followers.setdefault(follower.key, set())
        first = not followers
        followers.add(follower)
        if first:
            confirmed = asyncio.get_running_loop().create_future()
            self._confirmations.setdefault(follower.key, deque()).append(confirmed)
            await pubsub.subscribe(follower.key)
            await asyncio.shield(confirmed)
        elif follower.key in self._confirmations:  # another reader's SUBSCRIBE is on its way
            await asyncio.shield(self._confirmations[follower.key][-1])
        # RESP2 and decoded responses: [[stream, entries]], one pair for the one stream read.
        held = cast(
            list[tuple[str, list[Entry]]],
            await async_redis().xread({follower.key: follower.cursor}),
        )
        follower.caught_up(held[0][1] if held else [])

    async def leave(self, follower: Follower | Watch) -> None:
        followers = self._followers.get(follower.key)
        if followers is None:
            return
        followers.discard(follower)
        if not followers:
            del self._followers[follower.key]
            if self._pubsub is not None:
                with contextlib.suppress(RedisError):
                    await self._pubsub.unsubscribe(follower.key)


shared_reader = per_loop(SharedReader, by=redis_url)


@contextlib.asynccontextmanager
async def follow(key: str, cursor: str = "0-0") -> AsyncIterator[Follower]:
    """Follow the stream ``key`` from past ``cursor``: ``await follower.batch(timeout=…)``."""
    follower, reader = Follower(key, cursor), shared_reader()
    try:
        await reader.join(follower)
        yield follower
    finally:
        # Shielded: an UNSUBSCRIBE cancelled half-way (the browser leaving) costs the connection
        # every reader shares.
        await asyncio.shield(reader.leave(follower))
