"""Followed Redis streams: one subscribed connection per process, no entry lost or repeated."""

import asyncio
import contextlib

import pytest
from redis.exceptions import RedisError

from runtime import streams
from runtime.redis import redis_client

pytestmark = pytest.mark.asyncio


async def texts(follower: streams.Follower, count: int, timeout: float = 5.0) -> list[str]:
    """The next ``count`` entries' "d" fields, failing if they do not come in time."""
    got: list[str] = []
    async with asyncio.timeout(timeout):
        while len(got) < count:
            got += [fields["d"] for _, fields in await follower.batch(timeout=timeout)]
    return got


def subscribed_connections() -> int:
    """Connections subscribed to a channel (earlier tests' loops may have left theirs)."""
    return sum(1 for client in redis_client().client_list() if int(client["sub"]) > 0)


async def test_a_reader_gets_what_the_stream_held_then_what_comes_in_order_once():
    streams.append("s:held", {"d": "one"})
    streams.append("s:held", {"d": "two"})
    async with streams.follow("s:held") as follower:
        assert await texts(follower, 2) == ["one", "two"]
        await streams.aappend("s:held", {"d": "three"})
        streams.append("s:held", {"d": "four"}, keep_seconds=60)
        assert await texts(follower, 2) == ["three", "four"]
        assert await follower.batch(timeout=0.2) == []
    assert 0 < redis_client().ttl("s:held") <= 60


async def test_a_reader_from_a_cursor_gets_only_what_came_after_it():
    first = streams.append("s:cursor", {"d": "seen"})
    streams.append("s:cursor", {"d": "new"})
    async with streams.follow("s:cursor", first) as follower:
        assert await texts(follower, 1) == ["new"]


async def test_readers_that_open_at_once_in_a_fresh_process_all_hear_their_streams():
    keys, before = [f"s:fresh:{i}" for i in range(20)], subscribed_connections()
    # Each test has a loop of its own, hence a reader that has not connected yet, as in a
    # process that just started: the first joins race to set up its connection.
    async with contextlib.AsyncExitStack() as stack:
        followers = await asyncio.gather(
            *(stack.enter_async_context(streams.follow(key)) for key in keys)
        )
        for key in keys:
            streams.append(key, {"d": key})
        for key, follower in zip(keys, followers, strict=True):
            assert await texts(follower, 1) == [key]
        assert subscribed_connections() == before + 1


async def test_many_readers_of_many_streams_share_one_connection():
    before = subscribed_connections()
    async with (
        streams.follow("s:a") as a1,
        streams.follow("s:a") as a2,
        streams.follow("s:b") as b,
    ):
        assert subscribed_connections() == before + 1
        streams.append("s:a", {"d": "for a"})
        streams.append("s:b", {"d": "for b"})
        assert await texts(a1, 1) == ["for a"]
        assert await texts(a2, 1) == ["for a"]
        assert await texts(b, 1) == ["for b"]


async def test_a_lost_connection_reaches_its_readers_and_the_next_reader_starts_afresh():
    async with streams.follow("s:lost") as follower:
        redis_client().client_kill_filter(_type="pubsub")
        with pytest.raises(RedisError):
            await follower.batch(timeout=5)
    async with streams.follow("s:lost") as follower:
        streams.append("s:lost", {"d": "after"})
        assert await texts(follower, 1) == ["after"]


async def test_entries_written_while_a_reader_catches_up_are_all_read_once():
    # Readers join while a writer appends: whatever each one's catch-up read and the live
    # messages carry, every reader ends with every entry, in order, once.
    count = 60

    async def write(key: str) -> None:
        for n in range(count):
            await streams.aappend(key, {"d": str(n)})

    async def read(key: str, delay: float) -> list[str]:
        await asyncio.sleep(delay)
        async with streams.follow(key) as follower:
            return await texts(follower, count)

    for attempt in range(5):
        key = f"s:race:{attempt}"
        readers = [asyncio.create_task(read(key, i * 0.001)) for i in range(20)]
        await write(key)
        assert [await reader for reader in readers] == [[str(n) for n in range(count)]] * 20


async def test_appends_made_at_once_go_in_one_round_trip_even_after_redis_forgets_its_scripts():
    redis_client().script_flush()  # as after a restart of Redis
    before = redis_client().info("commandstats")
    ids = await asyncio.gather(*(streams.aappend("s:batch", {"d": str(n)}) for n in range(10)))
    ids += await asyncio.gather(*(streams.aappend("s:batch", {"d": str(n)}) for n in range(10, 20)))
    after = redis_client().info("commandstats")
    assert [fields["d"] for _, fields in redis_client().xrange("s:batch")] == [
        str(n) for n in range(20)
    ]
    assert ids == [entry_id for entry_id, _ in redis_client().xrange("s:batch")]

    def calls(command: str) -> int:  # SCRIPT's subcommands are counted as one before Redis 7
        return sum(
            stats["calls"] - before.get(name, {}).get("calls", 0)
            for name, stats in after.items()
            if name == f"cmdstat_{command}" or name.startswith(f"cmdstat_{command}|")
        )

    assert calls("script") == 1  # the one SCRIPT LOAD: no SCRIPT EXISTS per batch
    assert calls("evalsha") == 10 + 10 + 10  # the first batch refused, then sent again


async def test_a_watch_hears_its_streams_first_entry_once_and_nothing_after_its_block():
    heard: list[str] = []
    streams.append("s:watch:early", {"d": "already there"})
    async with streams.Watch("s:watch:early", lambda: heard.append("early")):
        async with asyncio.timeout(5):
            while not heard:
                await asyncio.sleep(0.01)
    async with streams.Watch("s:watch:live", lambda: heard.append("live")):
        await asyncio.sleep(0.1)  # joined: what comes now is live
        await streams.aappend("s:watch:live", {"d": "stop"})
        await streams.aappend("s:watch:live", {"d": "stop again"})
        async with asyncio.timeout(5):
            while len(heard) < 2:
                await asyncio.sleep(0.01)
    await streams.aappend("s:watch:live", {"d": "after the block"})
    await asyncio.sleep(0.1)
    assert heard == ["early", "live"]
    assert not streams.shared_reader()._followers  # both left the shared reader
