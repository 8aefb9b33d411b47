"""One of a thing per running event loop: connection pools and tasks cannot cross loops (a test
runs each of its cases on a loop of its own; a web process has one)."""

import asyncio
import weakref
from collections.abc import Callable, Hashable


def _always() -> None:
    return None


def per_loop[T](make: Callable[[], T], by: Callable[[], Hashable] = _always) -> Callable[[], T]:
    """A function that returns ``make()``'s result for the running loop, made on first use; and
    for each value of ``by()``, the settings it is made from (which tests change between cases)."""
    made: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, T]] = (
        weakref.WeakKeyDictionary()
    )

    def get() -> T:
        mine = made.setdefault(asyncio.get_running_loop(), {})
        key = by()
        found = mine.get(key)
        if found is None:
            found = mine[key] = make()
        return found

    get.__doc__ = make.__doc__
    return get
