"""A chat reply's live stream in Redis: its keys, its entries, writing them and reading them.

For the reply with public id P of user U (the owner's id is in every key, so a browser can
listen to its own reply's stream before the reply exists, and never to anyone else's):

- ``reply:U:P`` — the stream: ``{"t": "delta", "d": text}`` entries as the reply arrives (``think``
  for its thinking; ``sources`` once, the JSON of the pages a web search read), then one
  ``{"t": "done", "html": the final message}``; kept REPLY_STREAM_TTL_SECONDS after.
- ``reply:U:P:stop`` — a stream with an entry once someone asks the reply to stop; its runner,
  in whichever web process, follows it.
- ``reply:U:P:alive`` — renewed by the runner's process while the reply runs; the sweeper
  finishes running replies without one.

Readers follow streams through the process's shared connection (:mod:`runtime.streams`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import cast

from django.conf import settings

from runtime import keys, streams
from runtime.redis import async_redis, redis_client

ALIVE_SECONDS = 30
STOP_KEPT_SECONDS = 600


@dataclass(frozen=True)
class Piece:
    """One entry as a reader sees it: a delta's text (of the answer, or of the thinking before
    it), the pages the search read (``sources``: their JSON), or (the last one) the final
    message."""

    id: str
    text: str = ""
    final_html: str | None = None
    thinking: bool = False
    sources: bool = False

    @property
    def is_final(self) -> bool:
        return self.final_html is not None


def _piece(entry: streams.Entry) -> Piece:
    entry_id, fields = entry
    if fields.get("t") == "done":
        return Piece(entry_id, final_html=fields.get("html", ""))
    kind = fields.get("t")
    return Piece(
        entry_id, text=fields.get("d", ""), thinking=kind == "think", sources=kind == "sources"
    )


@dataclass(frozen=True)
class ReplyStream:
    user_id: int
    public_id: uuid.UUID

    @property
    def key(self) -> str:
        return keys.reply(self.user_id, self.public_id)

    @property
    def stop_key(self) -> str:
        return keys.reply_stop(self.user_id, self.public_id)

    @property
    def alive_key(self) -> str:
        return keys.reply_alive(self.user_id, self.public_id)

    # ------------------------------------------------------------------ the runner's side

    def publish(self, text: str, *, thinking: bool = False) -> asyncio.Future[str]:
        """A delta's entry, sent with the other appends of this turn of the event loop."""
        return streams.aappend(self.key, {"t": "think" if thinking else "delta", "d": text})

    def publish_sources(self, sources: list[dict]) -> asyncio.Future[str]:
        """The pages the search read, as soon as they are known: the page links the reply's
        citations to them while it streams."""
        return streams.aappend(
            self.key, {"t": "sources", "d": json.dumps(sources, ensure_ascii=False)}
        )

    def finish(self, html: str) -> None:
        """The final entry (sync: the sweeper finishes replies too); the stop and alive keys go."""
        streams.append(
            self.key,
            {"t": "done", "html": html},
            keep_seconds=settings.REPLY_STREAM_TTL_SECONDS,
            delete=(self.stop_key, self.alive_key),
        )

    def stop_requests(self, stop: Callable[[], object]) -> streams.Watch:
        """``async with`` it: ``stop`` is called when someone asks the reply to stop."""
        return streams.Watch(self.stop_key, stop)

    # ------------------------------------------------------------------ anyone's side

    async def ask_stop(self) -> None:
        await streams.aappend(self.stop_key, {"t": "stop"}, keep_seconds=STOP_KEPT_SECONDS)

    def runner_alive(self) -> bool:
        return bool(redis_client().exists(self.alive_key))

    def pieces_so_far(self) -> list[Piece]:
        entries = cast(list[streams.Entry], redis_client().xrange(self.key))  # decoded responses
        return [_piece(entry) for entry in entries]

    def delivered_text(self) -> str:
        """Every delta of the answer the stream holds, joined (what a dead runner had sent)."""
        return "".join(
            piece.text for piece in self.pieces_so_far() if not (piece.thinking or piece.sources)
        )

    async def exists(self) -> bool:
        return bool(await async_redis().exists(self.key))

    @contextlib.asynccontextmanager
    async def follow(self, cursor: str | None) -> AsyncIterator[Reader]:
        """Read past ``cursor`` (None: from the start), then live."""
        async with streams.follow(self.key, cursor or "0-0") as follower:
            yield Reader(follower)


class Reader:
    def __init__(self, follower: streams.Follower) -> None:
        self._follower = follower

    async def pieces(self, *, timeout: float) -> list[Piece]:
        """What arrived since the last call, waiting up to ``timeout`` s; [] when nothing did."""
        return [_piece(entry) for entry in await self._follower.batch(timeout=timeout)]


async def keep_alive(replies: Iterable[ReplyStream]) -> None:
    """Renew the alive keys of every reply this process runs, in one round trip."""
    pipe = async_redis().pipeline(transaction=False)
    for reply in replies:
        pipe.set(reply.alive_key, "1", ex=ALIVE_SECONDS)
    await pipe.execute()
