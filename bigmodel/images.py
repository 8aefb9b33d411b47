"""Images to and from BigModel: checking an upload against a GLM-4V model's limits, sending a
stored file as bare base64 without ever holding the whole encoding in memory, and fetching what
CogView made from its temporary link.

Checks decode the file (Pillow), never trust its name, and stay cheap: a PNG's chunks are checked
without inflating its pixels, a JPEG is decoded at 1/8
scale."""

from __future__ import annotations

import base64
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, BinaryIO

import httpx
from PIL import Image, UnidentifiedImageError

from .catalogue import ImageLimits, ModelSpec

READ_CHUNK = 3 * 64 * 1024  # a multiple of 3: each chunk encodes to base64 with no padding


class FetchFailed(Exception):
    """A generated image's temporary link did not give the file."""


class ImageRejected(ValueError):
    """An image the model would refuse, in words that name the limit broken."""


@dataclass(frozen=True)
class ImageInfo:
    format: str  # Pillow's name: "JPEG", "PNG"
    width: int
    height: int
    size: int  # bytes

    @property
    def content_type(self) -> str:
        return f"image/{self.format.lower()}"


@dataclass(frozen=True)
class ImageFile:
    """An image on disk that a request body carries as bare base64 (see ``bigmodel.jsonbody``)."""

    path: str
    size: int
    name: str = ""  # what the user called it, for display

    @classmethod
    def at(cls, path: str | os.PathLike, *, name: str = "") -> ImageFile:
        return cls(path=str(path), size=os.path.getsize(path), name=name or os.path.basename(path))

    @property
    def encoded_length(self) -> int:
        return 4 * ((self.size + 2) // 3)

    def iter_base64(self) -> Iterator[bytes]:
        with open(self.path, "rb") as source:
            while chunk := source.read(READ_CHUNK):
                yield base64.b64encode(chunk)


def image_file_part(image: ImageFile) -> dict:
    """A user message's content part for a stored image, as the GLM-4V models expect it."""
    return {"type": "image_url", "image_url": {"url": image}}


def uploads_problem(
    spec: ModelSpec, *, new: int, earlier: int = 0, links: int = 0, earlier_links: int = 0
) -> str:
    """Why a request to ``spec`` cannot carry ``new`` uploads and ``links`` (web links to images)
    plus the ``earlier`` ones of its conversation, or "". A model that reads no images is sent the
    conversation's text only, so earlier images are no problem there. Every GLM-4V model takes
    links; some take no uploads."""
    limits = spec.images
    if limits is None:
        return (
            f"{spec.label} does not read images; choose a GLM-4V model to ask about one."
            if new or links
            else ""
        )
    total = new + earlier + links + earlier_links
    if total == 0:
        return ""
    if not limits.base64 and new + earlier:
        what = "this file" if new else "the images uploaded earlier in this conversation"
        return (
            f"{spec.label} takes images only as web links, not uploads: give the image's link "
            f"instead, or choose another GLM-4V model to ask about {what}."
        )
    if total <= limits.max_count:
        return ""
    allowed = "one image" if limits.max_count == 1 else f"up to {limits.max_count} images"
    problem = f"{spec.label} takes {allowed} per request (this one would carry {total})."
    if earlier + earlier_links:
        problem += (
            f" This conversation already carries {earlier + earlier_links}; "
            "start a new one to ask about another."
        )
    return problem


def check_image(
    source: str | os.PathLike | IO[bytes], limits: ImageLimits, *, name: str = "The image"
) -> ImageInfo:
    """What the image (a path or a binary file) is, when ``limits`` allow it; otherwise
    :class:`ImageRejected`."""
    size = _size_of(source)
    if size > limits.max_bytes:
        raise ImageRejected(
            f"{name} is {_megabytes(size)}; images may be at most {_megabytes(limits.max_bytes)}."
        )
    allowed = " or ".join(limits.formats)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as picture:
                info = ImageInfo(
                    format=picture.format or "",
                    width=picture.width,
                    height=picture.height,
                    size=size,
                )
                if info.format not in limits.formats:
                    raise ImageRejected(
                        f"{name} is a {info.format or 'different'} file; send {allowed}."
                    )
                if max(info.width, info.height) > limits.max_side:
                    raise ImageRejected(
                        f"{name} is {info.width}×{info.height} pixels; the limit is "
                        f"{limits.max_side}×{limits.max_side}."
                    )
                _decode(picture)
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected(
            f"{name} has too many pixels; the limit is {limits.max_side}×{limits.max_side}."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise ImageRejected(
            f"{name} could not be read as {allowed}; the file may be damaged."
        ) from None
    return info


def _decode(picture: Image.Image) -> None:
    """Fail on a damaged file without holding its full-size pixels."""
    if picture.format == "JPEG":
        picture.draft("RGB", (max(1, picture.width // 8), max(1, picture.height // 8)))
        picture.load()
    else:
        picture.verify()  # PNG: every chunk and its CRC, pixels left compressed


def _size_of(source: str | os.PathLike | IO[bytes]) -> int:
    if isinstance(source, str | os.PathLike):
        return os.path.getsize(source)
    size = source.seek(0, os.SEEK_END)
    source.seek(0)
    return size


def _megabytes(size: int) -> str:
    return f"{size / 1048576:.1f} MB".replace(".0 MB", " MB")


@dataclass(frozen=True)
class FileHosts:
    """Where a generated file may be fetched from: https on ``domains`` (and their subdomains), and
    the upstream's own origin as configured (the simulator's http://127.0.0.1:… among them)."""

    domains: tuple[str, ...]
    origin: str

    def allows(self, url: httpx.URL) -> bool:
        if f"{url.scheme}://{url.netloc.decode()}" == self.origin.rstrip("/"):
            return True
        host = (url.host or "").lower()
        return url.scheme == "https" and any(
            host == d or host.endswith(f".{d}") for d in self.domains
        )


MAX_REDIRECTS = 3


def fetch_file(
    url: str, target: BinaryIO, *, max_bytes: int, hosts: FileHosts, timeout: float = 60
) -> None:
    """Download a generated image's temporary link into ``target``, a chunk at a time: only from the
    upstream's hosts, following a redirect only within the same host."""
    received, current = 0, httpx.URL(url)
    if not hosts.allows(current):
        raise FetchFailed(f"the image link is not on BigModel's file hosts ({current.host})")
    try:
        with httpx.Client(
            timeout=httpx.Timeout(timeout, connect=10), follow_redirects=False
        ) as client:
            for _ in range(MAX_REDIRECTS + 1):
                with client.stream("GET", current) as response:
                    if response.is_redirect:
                        following = current.join(response.headers.get("location", ""))
                        if following.host != current.host or not hosts.allows(following):
                            raise FetchFailed("the image link redirected to another host")
                        current = following
                        continue
                    if response.status_code != 200:
                        raise FetchFailed(f"the image link answered HTTP {response.status_code}")
                    for chunk in response.iter_bytes(64 * 1024):
                        received += len(chunk)
                        if received > max_bytes:
                            raise FetchFailed(f"the image is larger than {_megabytes(max_bytes)}")
                        target.write(chunk)
                    target.seek(0)
                    return
    except httpx.HTTPError:
        raise FetchFailed("the image link could not be reached") from None
    raise FetchFailed("the image link redirected too many times")
