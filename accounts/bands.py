"""Price bands: which tier of a price a call falls in, and whether a price's tiers cover every
length exactly once. A band is [from, to) in tokens, ``to`` None for no limit. BigModel bands a call
by its input length and, for some models, by its output length too; the band the call falls in
prices the whole call."""

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Protocol


class Banded(Protocol):
    prompt_from: int
    prompt_to: int | None
    completion_from: int
    completion_to: int | None


Band = tuple[int, int | None]


def _contains(band: Band, tokens: int) -> bool:
    start, end = band
    return start <= tokens and (end is None or tokens < end)


def tier_for[T: Banded](tiers: Iterable[T], prompt: int, completion: int) -> T | None:
    """The tier whose input band holds the prompt and whose output band holds the completion."""
    for tier in tiers:
        if _contains((tier.prompt_from, tier.prompt_to), prompt) and _contains(
            (tier.completion_from, tier.completion_to), completion
        ):
            return tier
    return None


def reachable[T: Banded](tiers: Iterable[T], prompt: int, completion: int) -> list[T]:
    """The tiers a call of at most these lengths may fall in (a worst case is priced at the dearest
    of them, so no band order can make a call cost more than was held)."""
    return [
        tier for tier in tiers if tier.prompt_from <= prompt and tier.completion_from <= completion
    ]


def tokens_text(tokens: int) -> str:
    """32000 → "32K", 200 → "0.2K", 1000000 → "1M": as BigModel's price list writes lengths."""
    if tokens and tokens % 1_000_000 == 0:
        return f"{tokens // 1_000_000}M"
    if tokens and tokens % 100 == 0:
        return f"{Decimal(tokens).scaleb(-3).normalize():f}K"
    return str(tokens)


def band_text(band: Band) -> str:
    start, end = band
    return f"{tokens_text(start)}+" if end is None else f"{tokens_text(start)}–{tokens_text(end)}"


def label(tier: Banded) -> str:
    """ "input 32K–128K", "input 0–32K, output 0–0.2K", "any length"."""
    parts = []
    if (tier.prompt_from, tier.prompt_to) != (0, None):
        parts.append(f"input {band_text((tier.prompt_from, tier.prompt_to))}")
    if (tier.completion_from, tier.completion_to) != (0, None):
        parts.append(f"output {band_text((tier.completion_from, tier.completion_to))}")
    return ", ".join(parts) or "any length"


def _coverage_problems(bands: Sequence[Band], what: str) -> list[str]:
    """``bands`` (distinct, sorted) must run from 0 to no limit, each starting where the last
    ended."""
    problems, expected = [], 0
    for start, end in bands:
        if start > expected:
            problems.append(f"no tier covers {what} {band_text((expected, start))}")
        elif start < expected:
            problems.append(f"{what} {band_text((start, end))} overlaps the band before it")
        if end is None:
            if (start, end) != bands[-1]:
                problems.append(f"{what} {band_text((start, end))} has no limit, yet bands follow")
            return problems
        expected = max(expected, end)
    problems.append(f"no tier covers {what} from {tokens_text(expected)} on")
    return problems


def problems(tiers: Sequence[Banded]) -> list[str]:
    """Why these tiers do not cover every call exactly once, in words; empty when they do."""
    found = [
        f"{band_text((start, end))} ends where it starts or before"
        for tier in tiers
        for start, end in (
            (tier.prompt_from, tier.prompt_to),
            (tier.completion_from, tier.completion_to),
        )
        if end is not None and end <= start
    ]
    if found or not tiers:
        return found or ["a token price needs at least one tier"]
    inputs = sorted({(tier.prompt_from, tier.prompt_to) for tier in tiers}, key=_sort_key)
    found += _coverage_problems(inputs, "input")
    for band in inputs:
        outputs = [
            (tier.completion_from, tier.completion_to)
            for tier in tiers
            if (tier.prompt_from, tier.prompt_to) == band
        ]
        where = f"output (input {band_text(band)})" if band != (0, None) else "output"
        if len(set(outputs)) < len(outputs):
            found.append(f"{where}: two tiers have the same band")
        found += _coverage_problems(sorted(set(outputs), key=_sort_key), where)
    return found


def _sort_key(band: Band) -> tuple[int, float]:
    start, end = band
    return start, float("inf") if end is None else end
