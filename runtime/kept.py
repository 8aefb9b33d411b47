"""Rows that change rarely (the prices, the model catalogue, API keys and who they bill), read once
by a process and again only after a change, made by any process.

A change gives Redis a new stamp when its transaction commits; each use compares the stamp its
copy was read under with Redis's (one GET instead of the queries). The stamp also lapses after
STAMP_SECONDS, so a change that could not be announced (Redis unreachable just then, rows written
without signals) is seen within that time. Nothing is kept while Redis cannot be asked, nor a copy
read in a transaction that changed the rows itself (it may yet be rolled back)."""

import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.db import transaction
from redis.exceptions import RedisError

from runtime import keys
from runtime.redis import redis_client

log = logging.getLogger(__name__)
STAMP_SECONDS = 60
MOST_KEPT = 10_000
_all: list["KeptEach"] = []
_ASK = "ask"  # no stamp read for this block: ask Redis
_read: ContextVar[str | None] = ContextVar("kept_stamp", default=_ASK)


class KeptEach[K, T]:
    """``load(k)``'s result for each ``k`` asked for, kept while nothing it reads has changed:
    ``kept.get(k)``. Past MOST_KEPT copies they are all dropped and read again as asked for."""

    def __init__(self, load: Callable[[K], T]) -> None:
        self._load = load
        self._copies: dict[K, tuple[str, T]] = {}
        _all.append(self)

    def get(self, k: K) -> T:
        stamp = _read.get()
        stamp = _stamp() if stamp is _ASK else stamp
        copy = self._copies.get(k)
        if copy is not None and stamp is not None and copy[0] == stamp:
            return copy[1]
        value = self._load(k)
        if stamp is not None and not _changing():
            if len(self._copies) >= MOST_KEPT:
                self._copies = {}  # a new dict, not cleared: other threads may be reading it
            self._copies[k] = (stamp, value)
        return value

    def last(self, k: K) -> T:
        """The copy kept last, without asking Redis whether it still holds (the next ``get``
        does): for a check in front of the request that then reads it again. ``get`` when none
        is kept."""
        copy = self._copies.get(k)
        return copy[1] if copy is not None else self.get(k)

    def forget(self) -> None:
        self._copies = {}


class Kept[T]:
    """``load()``'s result, kept while nothing it reads has changed: ``kept.get()``."""

    def __init__(self, load: Callable[[], T]) -> None:
        self._one: KeptEach[None, T] = KeptEach(lambda _: load())

    def get(self) -> T:
        return self._one.get(None)

    def last(self) -> T:
        return self._one.last(None)


@contextlib.contextmanager
def one_stamp() -> Iterator[None]:
    """Within the block, what is kept is checked against Redis once, however many kept things it
    reads (a call's admission reads the catalogue and the prices)."""
    token = _read.set(_stamp())
    try:
        yield
    finally:
        _read.reset(token)


def kept_changed(**_: Any) -> None:
    """Kept rows changed (a signal receiver, or called after writes that send none): this
    process reads them again at once, every other once the change commits."""
    kept_forget()
    if not _changing():
        transaction.on_commit(_announce)


def kept_forget() -> None:
    for kept in _all:
        kept.forget()


def _changing() -> bool:
    """This thread's transaction has changed kept rows and not yet committed."""
    pending = transaction.get_connection().run_on_commit
    return any(callback is _announce for _, callback, _ in pending)


def _announce() -> None:
    kept_forget()  # also what another thread read meanwhile from before the commit
    try:
        redis_client().set(keys.KEPT_STAMP, uuid.uuid4().hex, ex=STAMP_SECONDS)
    except RedisError as error:
        if settings.REDIS_NOT_STARTED:
            return  # set-up, before any process could read (and keep) anything
        log.warning(
            "a change to kept rows was not announced (%s); other processes see it within %s s",
            type(error).__name__,
            STAMP_SECONDS,
        )


def _stamp() -> str | None:
    try:
        client = redis_client()
        stamp = client.get(keys.KEPT_STAMP)
        if stamp is None:  # lapsed, or a new Redis: a stamp no copy was read under
            client.set(keys.KEPT_STAMP, uuid.uuid4().hex, nx=True, ex=STAMP_SECONDS)
            stamp = client.get(keys.KEPT_STAMP)
        return None if stamp is None else str(stamp)
    except RedisError:
        return None
