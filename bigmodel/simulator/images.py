"""CogView stand-in: cheap, deterministic PNGs and the temporary file URLs for them.

Upstream image links are temporary (30 days); ``expire_all`` makes every issued link
404 at once so tests can prove the app kept its own copy.
"""

from __future__ import annotations

import hashlib
import io
import random
import secrets
from collections import OrderedDict
from dataclasses import dataclass

from PIL import Image, ImageDraw


@dataclass(frozen=True)
class IssuedFile:
    prompt: str
    width: int
    height: int


class FileStore:
    """Issued file ids -> what to draw; PNG bytes are rendered lazily and cached."""

    def __init__(self, max_files: int = 5_000, max_cached: int = 16):
        self._files: OrderedDict[str, IssuedFile] = OrderedDict()
        self._png: OrderedDict[str, bytes] = OrderedDict()
        self._max_files = max_files
        self._max_cached = max_cached

    def issue(self, prompt: str, width: int, height: int) -> str:
        """Register a new image; return its file name (``<id>_0.png``)."""
        name = f"{secrets.token_hex(12)}_0.png"
        self._files[name] = IssuedFile(prompt, width, height)
        if len(self._files) > self._max_files:
            self._files.popitem(last=False)
        return name

    def lookup(self, name: str) -> IssuedFile | None:
        return self._files.get(name)

    def cached(self, name: str) -> bytes | None:
        return self._png.get(name)

    def remember(self, name: str, png: bytes) -> None:
        self._png[name] = png
        if len(self._png) > self._max_cached:
            self._png.popitem(last=False)

    def expire_all(self) -> int:
        count = len(self._files)
        self._files.clear()
        self._png.clear()
        return count


def render_png(prompt: str, width: int, height: int) -> bytes:
    """A gradient with a few shapes, fully determined by the prompt and size."""
    rng = random.Random(hashlib.sha256(prompt.encode("utf-8")).digest())
    base = _gradient(rng, width, height)
    draw = ImageDraw.Draw(base)
    for _ in range(rng.randint(3, 6)):
        _shape(draw, rng, width, height)
    out = io.BytesIO()
    # Speed over size: level 1 keeps a 1440x720 image well under 100 ms.
    base.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _gradient(rng: random.Random, width: int, height: int) -> Image.Image:
    # Built from Pillow's 256x256 gradients and resized: no per-pixel Python loops.
    linear = Image.linear_gradient("L").rotate(rng.choice([0, 90, 180, 270]))
    radial = Image.radial_gradient("L")
    flat = Image.new("L", (256, 256), rng.randint(40, 220))
    channels = [linear, radial, flat]
    rng.shuffle(channels)
    return Image.merge("RGB", channels).resize((width, height), Image.Resampling.BILINEAR)


def _shape(draw: ImageDraw.ImageDraw, rng: random.Random, width: int, height: int) -> None:
    x0, y0 = rng.randint(0, width - 1), rng.randint(0, height - 1)
    size = rng.randint(min(width, height) // 10, min(width, height) // 3)
    box = (x0, y0, min(x0 + size, width), min(y0 + size, height))
    colour = tuple(rng.randint(0, 255) for _ in range(3))
    if rng.random() < 0.5:
        draw.ellipse(box, fill=colour)
    else:
        draw.rectangle(box, fill=colour)
