"""The types of an ASGI app and of what it is called with, as django-stubs gives Django's handler's
(config/asgi.py stacks the app's own layers on it)."""

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

type Scope = dict[str, Any]
type Message = Mapping[str, Any]
type Receive = Callable[[], Awaitable[Message]]
type Send = Callable[[Message], Awaitable[None]]
type ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
