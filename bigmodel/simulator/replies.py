"""Deterministic replies and the simulator's one token-counting rule.

Token rule (used for prompts, replies, truncation and embeddings alike):

* every CJK character (ideographs, kana, hangul) is one token;
* every run of other word characters (letters, digits, ``_``) is one token;
* every other non-space character (punctuation, symbols, emoji) is one token;
* whitespace is free.

A message costs its content tokens plus ``MESSAGE_OVERHEAD``; each image part costs
``IMAGE_TOKENS``. Cutting a text right after its N-th token leaves exactly N
tokens."""

from __future__ import annotations

import hashlib
import json
import random
import re

from .faults import strip_markers

MESSAGE_OVERHEAD = 4
IMAGE_TOKENS = 1000
LONG_MARKER = "[[long]]"

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
TOKEN_RE = re.compile(rf"[{_CJK}]|(?:(?![{_CJK}])\w)+|[^\w\s]")


def count_tokens(text: str | None) -> int:
    """Number of tokens in ``text`` under the rule in the module docstring."""
    return len(TOKEN_RE.findall(text or ""))


def token_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in TOKEN_RE.finditer(text)]


def truncate_tokens(text: str, limit: int) -> tuple[str, bool]:
    """Cut ``text`` right after its ``limit``-th token; report whether it was cut."""
    spans = token_spans(text)
    if len(spans) <= limit:
        return text, False
    return (text[: spans[limit - 1][1]] if limit > 0 else ""), True


def message_text(content: object) -> str:
    """The text of a message's content, whether a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return "\n".join(t for t in texts if isinstance(t, str))
    return ""


def image_count(content: object) -> int:
    if not isinstance(content, list):
        return 0
    return sum(1 for p in content if isinstance(p, dict) and p.get("type") == "image_url")


def prompt_tokens(messages: list[dict]) -> int:
    """Prompt cost: content tokens + per-message overhead + a flat price per image."""
    total = 0
    for message in messages:
        content = message.get("content")
        total += MESSAGE_OVERHEAD + count_tokens(message_text(content))
        total += IMAGE_TOKENS * image_count(content)
    return total


def chunk_text(text: str, salt: str = "") -> list[str]:
    """Split a reply into stream deltas of 1-3 tokens each (deterministic)."""
    spans = token_spans(text)
    if not spans:
        return [text] if text else []
    rng = random.Random(digest(text + salt))
    pieces, start, i = [], 0, 0
    while i < len(spans):
        i = min(i + rng.randint(1, 3), len(spans))
        end = spans[i - 1][1] if i < len(spans) else len(text)
        pieces.append(text[start:end])
        start = end
    return pieces


def digest(value: str) -> int:
    return int.from_bytes(hashlib.sha256(value.encode("utf-8")).digest()[:8], "big")


def reply_seed(
    model: str, messages: list[dict], seed: object, temperature: object, do_sample: object
) -> int:
    """Hash of what decides a reply; fault markers are stripped so they never matter."""
    cleaned = [_strip_message(m) for m in messages]
    material = {"model": model, "messages": cleaned, "seed": seed}
    if do_sample is not False:
        material["temperature"] = temperature
    return digest(json.dumps(material, sort_keys=True, ensure_ascii=False, default=str))


def _strip_message(message: dict) -> dict:
    content = message.get("content")
    if isinstance(content, str):
        content = strip_markers(content)
    elif isinstance(content, list):
        content = [
            {**p, "text": strip_markers(p["text"])}
            if isinstance(p, dict) and isinstance(p.get("text"), str)
            else p
            for p in content
        ]
    return {**message, "content": content}


# --- composition -----------------------------------------------------------------

_OPENERS = [
    "In short,",
    "Broadly speaking,",
    "To be precise,",
    "In practice,",
    "Put simply,",
    "As a rule,",
    "On balance,",
    "Notably,",
    "First of all,",
    "Equally,",
]
_SUBJECTS = [
    "the model",
    "a careful reader",
    "the team",
    "this approach",
    "the request",
    "a small test",
    "the console",
    "each answer",
    "the budget",
    "the data",
]
_VERBS = [
    "balances",
    "explains",
    "improves",
    "measures",
    "clarifies",
    "tracks",
    "summarises",
    "compares",
    "reveals",
    "organises",
]
_OBJECTS = [
    "the trade-offs involved",
    "latency against cost",
    "every token spent",
    "the main idea",
    "how the parts fit together",
    "what matters most",
    "the edge cases",
    "the usual pitfalls",
    "a clear next step",
    "the numbers",
]
_TAILS = [
    ".",
    " quite well.",
    " in a few steps.",
    " without much fuss.",
    " over time.",
    ", which helps.",
    " for most users.",
    " at a glance.",
]
_ZH = [
    "这个问题可以从几个方面来理解。",
    "首先，我们需要明确目标和约束。",
    "其次，成本与效果之间需要权衡。",
    "在实际使用中，保持简单往往更可靠。",
    "每一次调用都会消耗一定数量的令牌。",
    "建议先用小规模数据进行测试。",
    "结果会随着参数的变化而有所不同。",
    "总的来说，这是一个值得尝试的方案。",
    "需要注意边界情况的处理。",
    "清晰的提示词能够带来更好的回答。",
    "团队可以根据用量调整预算。",
    "换一个角度重新描述问题也很有帮助。",
]
_LIST_ITEMS = [
    "Keep prompts short and specific",
    "Watch the token budget",
    "Prefer small models first",
    "Log every request",
    "Retry on rate limits",
    "Cache repeated answers",
    "Check the output format",
    "Measure latency under load",
]
_VISION = [
    "The image shows a soft colour gradient",
    "There are a few simple geometric shapes",
    "The picture looks synthetic and evenly lit",
    "Bright blocks of colour stand out",
]


def compose_reply(seed: int, last_prompt: str, has_images: bool = False) -> str:
    """A markdown-flavoured reply of ~30-120 tokens (~600 for ``[[long]]`` prompts)."""
    rng = random.Random(seed)
    prompt = strip_markers(last_prompt)
    chinese = bool(re.search(f"[{_CJK}]", prompt))
    wants_code = bool(re.search(r"code|代码", prompt, re.IGNORECASE))
    if LONG_MARKER in prompt:
        target = 580 + rng.randint(0, 40)
    else:
        target = 30 + rng.randint(0, 60) + min(count_tokens(prompt) // 4, 30)
    blocks = [_intro(rng, prompt, chinese)]
    if has_images:
        blocks.append(rng.choice(_VISION) + ".")
    if wants_code:
        blocks.append(_code_block(rng))
    elif rng.random() < 0.4:
        blocks.append(_bullets(rng))
    while count_tokens("\n\n".join(blocks)) < target:
        blocks.append(_paragraph(rng, chinese))
    return "\n\n".join(blocks)


_THOUGHTS = [
    "Let me work out what is being asked first",
    "The key point seems to be the last sentence",
    "I should check the assumptions before answering",
    "A short answer with one example should do",
    "There may be more than one reading of this",
]


def compose_reasoning(seed: int, last_prompt: str) -> str:
    """The thinking before a reply: a few deterministic sentences (~20-50 tokens)."""
    rng = random.Random(seed ^ 0x7417)
    topic = " ".join(strip_markers(last_prompt).split()[:6]) or "this"
    steps = rng.sample(_THOUGHTS, k=2 + rng.randint(0, 2))
    return f"The user asks about “{topic}”. " + ". ".join(steps) + "."


def _intro(rng: random.Random, prompt: str, chinese: bool) -> str:
    if chinese:
        topic = "".join(re.findall(f"[{_CJK}]", prompt))[:8]
        return f"关于「{topic}」，" + rng.choice(_ZH)
    words = re.findall(r"[A-Za-z0-9']+", prompt)[:6]
    topic = " ".join(words) if words else "your message"
    return f"You asked about **{topic}**. " + _sentence(rng)


def _sentence(rng: random.Random) -> str:
    return (
        f"{rng.choice(_OPENERS)} {rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} "
        f"{rng.choice(_OBJECTS)}{rng.choice(_TAILS)}"
    )


def _paragraph(rng: random.Random, chinese: bool) -> str:
    count = rng.randint(2, 4)
    if chinese:
        return "".join(rng.choice(_ZH) for _ in range(count))
    return " ".join(_sentence(rng) for _ in range(count))


def _bullets(rng: random.Random) -> str:
    items = rng.sample(_LIST_ITEMS, 3)
    return "\n".join(f"- {item}" for item in items)


def _code_block(rng: random.Random) -> str:
    name = rng.choice(["total", "average", "largest"])
    body = {
        "total": "sum(values)",
        "average": "sum(values) / len(values)",
        "largest": "max(values)",
    }[name]
    return f"```python\ndef {name}(values):\n    return {body}\n\n\nprint({name}([1, 2, 3]))\n```"
