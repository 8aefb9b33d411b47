"""One of a thing per running event loop: connection pools and tasks cannot cross loops (a test
runs each of its cases on a loop of its own; a web process has one)."""

import asyncio
import weakref
from collections.abc import Callable


def per_loop[T](make: Callable[[], T]) -> Callable[[], T]:
    """A function that returns ``make()``'s result for the running loop, made on first use."""
    made: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = weakref.WeakKeyDictionary()

    def get() -> T:
        loop = asyncio.get_running_loop()
        found = made.get(loop)
        if found is None:
            found = made[loop] = make()
        return found

    get.__doc__ = make.__doc__
    return get
