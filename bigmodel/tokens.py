"""A token estimate for when the upstream gives no usage (a stopped stream).

GLM's tokenizer is not public; this errs a little high: about one token per CJK
character and one per four other characters. Figures from it are marked "estimated".
"""

import re

CJK = re.compile(r"[\u3000-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")


def estimate_tokens(text: str) -> int:
    if not text:
        return 0
    cjk = len(CJK.findall(text))
    other = len(text) - cjk
    return cjk + (other + 3) // 4


IMAGE_TOKENS = 1000  # GLM-4V's usage for one image plus a short question is about 1,040 tokens


def estimate_prompt_tokens(messages: list[dict]) -> int:
    """Per-message overhead of 4 tokens for the role markers, and a flat figure per image."""
    total = 0
    for message in messages:
        content = message.get("content") or ""
        if isinstance(content, list):
            parts = [part for part in content if isinstance(part, dict)]
            total += IMAGE_TOKENS * sum(part.get("type") == "image_url" for part in parts)
            content = " ".join(part.get("text", "") for part in parts)
        total += 4 + estimate_tokens(content)
    return total
