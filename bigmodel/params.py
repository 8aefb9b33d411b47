"""Request bodies for chat completions: validation in the user's terms, then the SDK's sanitising.

Validation (:func:`validate_chat_params`) runs first, against the model's catalogue ranges, and
reports problems in plain words. Sanitising (:func:`build_chat_body`) then nudges valid values
the way the official SDK does, because the server has rejected exact 0 and 1 in the
past."""

from __future__ import annotations

import base64
import copy
import logging
from collections.abc import Mapping
from typing import Any

from .catalogue import ModelSpec, Range
from .tools import tools_for, tools_problem, web_search_problem

logger = logging.getLogger("bigmodel")

STOP_MAX_CHARS = 64
_LOW, _HIGH = 0.01, 0.99


# --------------------------------------------------------------------------- validation


def validate_chat_params(spec: ModelSpec, params: Mapping[str, Any]) -> dict[str, str]:
    """Plain-words problems with ``params`` for ``spec``, by parameter name; empty means fine.

    Looks at ``temperature``, ``top_p``, ``max_tokens``, ``seed``, ``stop``, ``thinking``
    ("enabled" or "disabled") and ``response_format`` ("json_object"); None is "unset"."""
    problems = {
        "temperature": _range_problem(
            spec, "temperature", spec.temperature, params.get("temperature")
        ),
        "top_p": _range_problem(spec, "top_p", spec.top_p, params.get("top_p")),
        "max_tokens": max_tokens_problem(spec, params.get("max_tokens")),
        "seed": _seed_problem(params.get("seed")),
        "stop": _stop_problem(params.get("stop")),
        "thinking": _thinking_problem(spec, params.get("thinking")),
        "clear_thinking": _clear_thinking_problem(
            spec, params.get("clear_thinking"), params.get("thinking")
        ),
        "reasoning_effort": _reasoning_effort_problem(
            spec, params.get("reasoning_effort"), params.get("thinking")
        ),
        "response_format": _response_format_problem(spec, params.get("response_format")),
        "web_search": web_search_problem(spec, params.get("web_search")),
        "tools": tools_problem(spec, params.get("tools")),
    }
    return {name: problem for name, problem in problems.items() if problem}


def _range_problem(spec: ModelSpec, label: str, allowed: Range | None, value: Any) -> str:
    if value is None:
        return ""
    if allowed is None:
        return f"{spec.label} does not take a {label} setting."
    number = _as_number(value)
    if number is None:
        return f"{label} must be a number."
    if not allowed.contains(number):
        return (
            f"{label} must be between {allowed.min:g} and {allowed.max:g} "
            f"for {spec.label} (got {number:g})."
        )
    return ""


# No model writes more than this: the limit of a model whose catalogue entry gives none.
UNKNOWN_OUTPUT_LIMIT = 1_000_000


def output_limit(spec: ModelSpec) -> int:
    """The most tokens a call to ``spec`` can write: its max_tokens ceiling, else its context."""
    return spec.max_output_tokens or spec.context_tokens or UNKNOWN_OUTPUT_LIMIT


def max_tokens_problem(spec: ModelSpec, value: Any) -> str:
    """Why ``value`` cannot be a call's max_tokens, naming the limit; "" when it can (or is
    unset)."""
    if value is None:
        return ""
    number = _as_whole_number(value)
    if number is None:
        return "max_tokens must be a whole number."
    if number < 1:
        return "max_tokens must be at least 1."
    if number > (limit := output_limit(spec)):
        return f"max_tokens can be at most {limit} for {spec.label} (got {number})."
    return ""


def _seed_problem(value: Any) -> str:
    if value is None:
        return ""
    number = _as_whole_number(value)
    if number is None or number < 0:
        return "seed must be a whole number, 0 or more."
    return ""


def _stop_problem(value: Any) -> str:
    if value is None:
        return ""
    words = [value] if isinstance(value, str) else value
    if not isinstance(words, list | tuple) or not all(isinstance(w, str) for w in words):
        return "stop must be text."
    if any(len(word) > STOP_MAX_CHARS for word in words):
        return f"stop can be at most {STOP_MAX_CHARS} characters."
    return ""


THINKING = ("enabled", "disabled")


def _thinking_problem(spec: ModelSpec, value: Any) -> str:
    if value is None:
        return ""
    if value not in THINKING:
        return "thinking must be enabled or disabled."
    if not spec.thinking:
        return f"{spec.label} does not think: leave thinking at the model's default."
    if spec.thinking == "always" and value == "disabled":
        return f"{spec.label} always thinks: its thinking cannot be disabled."
    return ""


def _clear_thinking_problem(spec: ModelSpec, value: Any, thinking: Any) -> str:
    if value is None:
        return ""
    if not spec.preserved_thinking:
        return f"{spec.label} does not keep earlier thinking: leave clear_thinking at its default."
    if thinking == "disabled":
        return "clear_thinking is about thinking: it needs thinking enabled (or its default)."
    return ""


REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")


def _reasoning_effort_problem(spec: ModelSpec, value: Any, thinking: Any) -> str:
    if value is None:
        return ""
    if not spec.reasoning_efforts:
        return f"{spec.label} takes no reasoning_effort: leave it at the model's default."
    if value not in spec.reasoning_efforts:
        return f"reasoning_effort for {spec.label} is one of {', '.join(spec.reasoning_efforts)}."
    if thinking == "disabled":
        return "reasoning_effort sets how hard the model thinks: it needs thinking enabled."
    return ""


def keeps_thinking(params: Mapping[str, Any]) -> bool:
    """clear_thinking false: the earlier replies' thinking must go back with the history."""
    return params.get("clear_thinking") is False


def _response_format_problem(spec: ModelSpec, value: Any) -> str:
    if value is None:
        return ""
    if value != "json_object":
        return "response_format can only be json_object (or left as text)."
    if not spec.json_output:
        return f"{spec.label} does not offer JSON output."
    return ""


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def _as_whole_number(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value  # exactly, however large
    number = _as_number(value)
    if number is None or not number.is_integer():
        return None
    return int(number)


# --------------------------------------------------------------------------- sanitising


def build_chat_body(
    spec: ModelSpec,
    *,
    messages: list[dict],
    temperature: float | None = None,
    top_p: float | None = None,
    max_tokens: int | None = None,
    seed: int | None = None,
    do_sample: bool | None = None,
    stop: str | list[str] | None = None,
    thinking: str | None = None,
    clear_thinking: bool | None = None,
    reasoning_effort: str | None = None,
    response_format: str | None = None,
    web_search: dict | None = None,
    tools: Any = None,
    stream: bool = False,
    request_id: str | None = None,
    user_id: str | None = None,
) -> dict:
    """The JSON body for ``/chat/completions``, sanitised as the official SDK does.

    Fields left as None are omitted, but for max_tokens: unset, it is the model's
    ``default_max_tokens``, the default the playground shows (the API's own default is larger, and
    a call is held at what it may write). Image parts lose any ``data:...;base64,`` prefix."""
    if not spec.chats:
        raise ValueError(f"{spec.name} is a {spec.kind} model, not a chat model")
    if temperature is not None:
        temperature, forced_do_sample = _sanitise_temperature(float(temperature))
        do_sample = False if forced_do_sample is False else do_sample
    body: dict[str, Any] = {
        "model": spec.name,
        "messages": _strip_image_prefixes(messages),
        "stream": bool(stream),
        "temperature": temperature,
        "top_p": None if top_p is None else _sanitise_top_p(float(top_p)),
        "max_tokens": _clamp_max_tokens(
            spec, (spec.default_max_tokens or None) if max_tokens is None else max_tokens
        ),
        "seed": None if seed is None else int(seed),
        "do_sample": do_sample,
        "stop": _single_stop_word(stop),
        "thinking": _thinking(thinking, clear_thinking),
        "reasoning_effort": reasoning_effort,
        "response_format": None if response_format is None else {"type": response_format},
        "tools": tools_for(tools, web_search),
        "request_id": request_id,
        "user_id": user_id,
    }
    return {key: value for key, value in body.items() if value is not None}


def _thinking(kind: str | None, clear_thinking: bool | None) -> dict | None:
    """``{"type": …}``; with clear_thinking set, thinking is enabled (the default of every model
    that takes it) and says whether earlier thinking is cleared."""
    if clear_thinking is not None:
        return {"type": kind or "enabled", "clear_thinking": clear_thinking}
    return None if kind is None else {"type": kind}


def sdk_changes(params: Mapping[str, Any]) -> list[str]:
    """In words, each value the official SDKs (and so this app) send otherwise than it was set."""
    notes = []
    if params.get("temperature") is not None:
        set_to = float(params["temperature"])
        sent, greedy = _sanitise_temperature(set_to)
        if sent != set_to:
            extra = " with do_sample false" if greedy is False else ""
            notes.append(f"temperature {set_to:g} is sent as {sent:g}{extra}")
    if params.get("top_p") is not None:
        set_to = float(params["top_p"])
        if (sent := _sanitise_top_p(set_to)) != set_to:
            notes.append(f"top_p {set_to:g} is sent as {sent:g}")
    return notes


def _sanitise_temperature(value: float) -> tuple[float, bool | None]:
    # The SDK reads "temperature 0" as greedy decoding: do_sample=false with a token 0.01.
    if value <= 0:
        return _LOW, False
    if value >= 1:
        return _HIGH, None
    return value, None


def _sanitise_top_p(value: float) -> float:
    return min(max(value, _LOW), _HIGH)


def _clamp_max_tokens(spec: ModelSpec, value: int | None) -> int | None:
    return None if value is None else min(max(int(value), 1), output_limit(spec))


def _single_stop_word(stop: str | list[str] | None) -> list[str] | None:
    # BigModel supports a single stop word, sent as a one-element list.
    words = [stop] if isinstance(stop, str) else list(stop or [])
    words = [word for word in words if word]
    if not words:
        return None
    if len(words) > 1:
        logger.info("only one stop word is supported; kept the first of %d", len(words))
    return words[:1]


# --------------------------------------------------------------------------- images


def strip_data_prefix(url: str) -> str:
    """``data:image/png;base64,AAAA`` -> ``AAAA``; anything else is returned unchanged."""
    if url.startswith("data:") and ";base64," in url:
        return url.split(";base64,", 1)[1]
    return url


def image_part(data: bytes) -> dict:
    """A message content part carrying an image as bare base64, as the GLM-4V models expect."""
    encoded = base64.b64encode(data).decode("ascii")
    return {"type": "image_url", "image_url": {"url": encoded}}


def _strip_image_prefixes(messages: list[dict]) -> list[dict]:
    # Copy rather than mutate: the caller's messages are often the stored conversation.
    cleaned = copy.deepcopy(messages)
    for message in cleaned:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for part in content:
            image = part.get("image_url") if isinstance(part, dict) else None
            if isinstance(image, dict) and isinstance(image.get("url"), str):
                image["url"] = strip_data_prefix(image["url"])
    return cleaned
