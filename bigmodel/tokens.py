"""Counting tokens without GLM's tokenizer, which is not public: an estimate for when the upstream
gives no usage (a stopped stream), and a bound that no tokenizer can exceed, for holds.

The estimate errs a little high: about one token per CJK character and one per four other
characters. Figures from it are marked "estimated". The bound counts a text's UTF-8 bytes (no
tokenizer makes more tokens of a text than it has bytes) and generous figures for what the chat
template adds around it.
"""

import json
import re
from collections.abc import Mapping
from typing import Any

from .tools import search_pages_of, web_search_options

CJK = re.compile(r"[\u3000-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")


def estimate_tokens(text: str) -> int:
    if not text:
        return 0
    cjk = len(CJK.findall(text))
    other = len(text) - cjk
    return cjk + (other + 3) // 4


IMAGE_TOKENS = 1000  # GLM-4V's usage for one image plus a short question is about 1,040 tokens


def estimate_prompt_tokens(messages: list[dict]) -> int:
    """Per-message overhead of 4 tokens for the role markers, and a flat figure per image; the
    thinking and the function calls sent back count too."""
    total = 0
    for message in messages:
        content = message.get("content") or ""
        if isinstance(content, list):
            parts = [part for part in content if isinstance(part, dict)]
            total += IMAGE_TOKENS * sum(part.get("type") == "image_url" for part in parts)
            content = " ".join(part.get("text", "") for part in parts)
        total += 4 + estimate_tokens(content)
        total += estimate_tokens(message.get("reasoning_content") or "")
        if message.get("tool_calls"):
            total += estimate_tokens(json.dumps(message["tool_calls"], ensure_ascii=False))
    return total


# A page the web_search tool reads is input: about 190 tokens at the default content size
# (a measured call), counted generously.
SEARCH_PAGE_TOKENS = 500


def _functions(body: Mapping[str, Any]) -> list[dict]:
    return [
        tool for tool in body.get("tools") or () if isinstance(tool, dict)
        and tool.get("type") == "function"
    ]  # fmt: skip


def estimate_request_tokens(body: Mapping[str, Any], *, searched: bool = True) -> int:
    """A chat request's input: its messages, the functions it defines, and (``searched``) the
    pages its web search may read."""
    total = estimate_prompt_tokens(body["messages"])
    if functions := _functions(body):
        total += estimate_tokens(json.dumps(functions, ensure_ascii=False))
    return total + (SEARCH_PAGE_TOKENS * search_pages_of(body) if searched else 0)


# --------------------------------------------------------------------------- the bound

# What the chat template adds, counted high: around each message (its role and separators),
# around the call (its start, the reply's opening, the thinking markers) and around each function
# it lists (the words that introduce it).
MESSAGE_FRAME = 16
CALL_FRAME = 64
FUNCTION_FRAME = 128
# The most one image can cost, for a model whose catalogue entry does not say: GLM-V's open image
# processor (transformers' glm4v, longest_edge 28 × 28 × 15000 pixels over 2 frames) resizes any
# image to at most 7,500 merged patches of 28 × 28 pixels, plus its two markers.
IMAGE_TOKENS_MAX = 7502
# A page the search reads is chosen and cut by the upstream: counted at several times what a
# measured page took, more when the call asks for pages in full (content_size "high").
SEARCH_PAGE_TOKENS_MAX = {"high": 4000}
SEARCH_PAGE_TOKENS_DEFAULT = 1000


def _utf8_bytes(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, default=str).encode())


def _without_images(message: Mapping[str, Any]) -> tuple[dict, int]:
    """The message with its image parts left out, and how many there were (an image is sent as
    a link or as a file's base64, which is not text the tokenizer reads)."""
    content = message.get("content")
    if not isinstance(content, list):
        return dict(message), 0
    kept, images = [], 0
    for part in content:
        if isinstance(part, dict) and part.get("type") == "image_url":
            images += 1
        else:
            kept.append(part)
    return {**message, "content": kept}, images


def _search_pages_bound(body: Mapping[str, Any]) -> int:
    options = web_search_options(body)
    if options is None:
        return 0
    per_page = SEARCH_PAGE_TOKENS_MAX.get(
        str(options.get("content_size") or ""), SEARCH_PAGE_TOKENS_DEFAULT
    )
    return _utf8_bytes(options) + per_page * search_pages_of(body)


def prompt_bound(body: Mapping[str, Any], *, image_tokens: int = IMAGE_TOKENS_MAX) -> int:
    """The most prompt tokens a chat request can be billed for, whatever its text: every message
    (its whole JSON, history, thinking and calls sent back included) by its UTF-8 bytes, each
    image at ``image_tokens``, the functions by the bytes of their JSON laid out as a template
    would, and the search's options and pages."""
    total = CALL_FRAME
    for message in body.get("messages") or ():
        text, images = _without_images(message if isinstance(message, Mapping) else {})
        total += MESSAGE_FRAME + _utf8_bytes(text) + images * image_tokens
    functions = _functions(body)
    if functions:
        total += len(json.dumps(functions, ensure_ascii=False, indent=4).encode())
        total += FUNCTION_FRAME * len(functions)
    return total + _search_pages_bound(body)
