"""Request bodies as bytes. A body that carries stored images (``ImageFile``) is streamed: the JSON
around each image is written once, each image's base64 is read from disk a chunk at a time, and
the exact ``Content-Length`` is known up front, so a 5 MB image never sits in memory encoded."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from .images import ImageFile


def dumps(body: Any, default: Callable[[Any], Any] | None = None) -> str:
    # What httpx's json= sends: compact, UTF-8, no NaN.
    return json.dumps(
        body, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=default
    )


class ImageBody:
    """JSON text with stored images spliced in as base64 strings; iterable again for a retry."""

    def __init__(self, pieces: list[bytes | ImageFile]) -> None:
        self.pieces = pieces

    def __len__(self) -> int:
        return sum(len(p) if isinstance(p, bytes) else p.encoded_length + 2 for p in self.pieces)

    def __iter__(self) -> Iterator[bytes]:
        for piece in self.pieces:
            if isinstance(piece, bytes):
                yield piece
            else:
                yield b'"'
                yield from piece.iter_base64()
                yield b'"'


class AsyncImageBody:
    """The same bytes for an async client (httpx wants an async iterable there). Reads are small
    and from local disk, so they run on the loop."""

    def __init__(self, body: ImageBody) -> None:
        self.body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.body:
            yield chunk


def encode(body: Any) -> tuple[bytes | ImageBody, dict[str, str]]:
    """The body's bytes (or an :class:`ImageBody` when it holds images) and its headers."""
    images: list[ImageFile] = []
    mark = f"\x00image-{secrets.token_hex(8)}-"

    def placeholder(value: Any) -> str:
        if isinstance(value, ImageFile):
            images.append(value)
            return f"{mark}{len(images) - 1}"
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")

    text = dumps(body, default=placeholder)
    headers = {"Content-Type": "application/json"}
    if not images:
        content = text.encode("utf-8")
        return content, {**headers, "Content-Length": str(len(content))}
    # json escapes the NUL in the mark as \u0000; the quotes around it belong to the string.
    escaped = dumps(mark)[1:-1]
    pieces: list[bytes | ImageFile] = []
    rest = text
    for index, image in enumerate(images):
        before, rest = rest.split(f'"{escaped}{index}"', 1)
        pieces += [before.encode("utf-8"), image]
    pieces.append(rest.encode("utf-8"))
    streamed = ImageBody(pieces)
    return streamed, {**headers, "Content-Length": str(len(streamed))}
