"""Image files for tests, made on the spot with Pillow."""

import io
import random

from PIL import Image


def _saved(picture: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    picture.save(out, fmt, **options)
    return out.getvalue()


def png(width: int = 64, height: int = 48, colour=(200, 40, 40)) -> bytes:
    return _saved(Image.new("RGB", (width, height), colour), "PNG")


def jpeg(width: int = 64, height: int = 48, colour=(40, 120, 200)) -> bytes:
    return _saved(Image.new("RGB", (width, height), colour), "JPEG", quality=90)


def gif() -> bytes:
    return _saved(Image.new("P", (32, 32)), "GIF")


def huge_png(side: int = 7000) -> bytes:
    """Many pixels, few bytes: a one-bit image."""
    return one_bit_png(side, side)


def one_bit_png(width: int, height: int) -> bytes:
    return _saved(Image.new("1", (width, height)), "PNG")


def noisy_png(target_bytes: int, seed: int = 1) -> bytes:
    """A real PNG of about ``target_bytes`` (noise does not compress)."""
    side = int((target_bytes / 3) ** 0.5)
    noise = random.Random(seed).randbytes(side * side * 3)
    return _saved(Image.frombytes("RGB", (side, side), noise), "PNG", compress_level=1)


def oversized_jpeg(size: int = 6 * 1024 * 1024) -> bytes:
    """A valid JPEG padded past ``size`` bytes (decoders ignore what follows the image)."""
    data = jpeg()
    return data + b"\0" * (size - len(data) + 1)


def truncated_png() -> bytes:
    data = noisy_png(20_000)
    return data[: len(data) // 2]
