"""A token estimate for when the upstream gives no usage (a stopped stream).

GLM's tokenizer is not public; this errs a little high: about one token per CJK
character and one per four other characters. Figures from it are marked "estimated".
"""

import json
import re

from .tools import search_pages_of

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
# (a measured call), counted generously since a hold must cover the worst case.
SEARCH_PAGE_TOKENS = 500


def estimate_request_tokens(body: dict, *, searched: bool = True) -> int:
    """A chat request's input: its messages, the functions it defines, and (``searched``) the
    pages its web search may read."""
    total = estimate_prompt_tokens(body["messages"])
    functions = [
        tool for tool in body.get("tools") or () if isinstance(tool, dict)
        and tool.get("type") == "function"
    ]  # fmt: skip
    if functions:
        total += estimate_tokens(json.dumps(functions, ensure_ascii=False))
    return total + (SEARCH_PAGE_TOKENS * search_pages_of(body) if searched else 0)
