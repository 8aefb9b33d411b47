"""Request bodies held to a size before any of them is written to disk.

Django's ASGI handler spools a whole body to a temporary file before a view (or a middleware) sees
it, so the limit sits in front of it: a body that says it is too long is refused unread, and one
that turns out too long while it arrives is cut off there. Uploads may be as large as the app
says (``upload_limit``: the catalogue's vision models as the admin left them); every other body as
large as Django itself would read."""

from collections.abc import Awaitable, Callable

from django.conf import settings

from runtime.asgi_types import ASGIApp, Message, Receive, Scope, Send

UPLOAD_PATHS = ("/playground/send/",)


def other_limit() -> int:
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 64 * 1024


def _megabytes(size: int) -> str:
    return f"{size / 1048576:.0f} MB"


def _refusal(path: str, limit: int) -> tuple[bytes, list]:
    if path in UPLOAD_PATHS:
        text = (
            f"This message and its images are too large to send: at most {_megabytes(limit)} "
            "in all. Attach fewer or smaller images; your text is still in the box."
        )
        body = f'<div class="error" role="alert"><p>{text}</p></div>'.encode()
        return body, [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"hx-retarget", b"#form-errors"),
            (b"hx-reswap", b"innerHTML"),
        ]
    text = f"The request is too large (at most {_megabytes(limit)})."
    return text.encode(), [(b"content-type", b"text/plain; charset=utf-8")]


class BodyLimit:
    def __init__(self, app: ASGIApp, upload_limit: Callable[[], Awaitable[int]]) -> None:
        self.app, self.upload_limit = app, upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is None and b"transfer-encoding" not in headers:
            # No body (an event stream's GET): nothing to count, and no wrapper on each send.
            return await self.app(scope, receive, send)
        path = scope["path"]
        limit = await self.upload_limit() if path in UPLOAD_PATHS else other_limit()
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await self._refuse(send, path, limit)

        received, too_large, started = 0, False, False

        async def counted_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # a body longer than it said, or chunked: stop reading it here
                    too_large = True
                    return {"type": "http.disconnect"}
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted_receive, watched_send)
        if too_large and not started:
            await self._refuse(send, path, limit)

    @staticmethod
    async def _refuse(send: Send, path: str, limit: int) -> None:
        body, headers = _refusal(path, limit)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    *headers,
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
