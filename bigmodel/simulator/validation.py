"""Request checks that mirror the real service's 400s (codes 1210-1214, 1261).

Every optional field may arrive as JSON ``null`` (the SDK sends
``response_format: null`` and ``thinking: null``), so nulls are dropped
first."""

from __future__ import annotations

import base64
import binascii
import io
import re
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from bigmodel.catalogue import ImageLimits, ModelSpec, Range

from .errors import (
    MSG_BAD_IMAGE,
    MSG_BAD_MESSAGES,
    MSG_NO_MODEL,
    MSG_PROMPT_TOO_LONG,
    ApiError,
    bad_request,
    invalid,
    missing,
    unsupported_method,
)
from .replies import count_tokens, prompt_tokens

ROLES = {"system", "user", "assistant", "tool"}


@dataclass
class ChatRequest:
    spec: ModelSpec
    messages: list[dict]
    max_tokens: int
    stop: list[str]
    prompt_tokens: int
    image_count: int
    thinks: bool = False
    json_output: bool = False
    web_search: dict | None = None  # the web_search tool's options, when it is on
    functions: tuple[dict, ...] = ()  # the function tools' definitions


def drop_nulls(body: dict) -> dict:
    return {k: v for k, v in body.items() if v is not None}


def resolve_model(
    body: dict, catalogue: dict[str, ModelSpec], kinds: tuple[str, ...], method: str
) -> ModelSpec:
    name = body.get("model")
    if not isinstance(name, str) or not name:
        raise missing("model")
    spec = catalogue.get(name)
    if spec is None:
        raise bad_request(1211, MSG_NO_MODEL)
    if spec.kind not in kinds:
        raise unsupported_method(name, method)
    return spec


def check_chat(body: dict, catalogue: dict[str, ModelSpec], strict: bool) -> ChatRequest:
    spec = resolve_model(body, catalogue, ("chat", "vision"), "chat/completions")
    messages = body.get("messages")
    if messages is None:
        raise missing("messages")
    _check_messages(messages)
    for name in ("temperature", "top_p"):
        _check_unit(body, name, getattr(spec, name), strict)
    max_tokens = _check_max_tokens(body, spec)
    stop = _check_stop(body, strict)
    images = sum(_check_content(i, m, spec) for i, m in enumerate(messages))
    if spec.images and images > spec.images.max_count:
        raise bad_request(1210, f"{MSG_BAD_IMAGE}：最多支持{spec.images.max_count}张图片。")
    tokens = prompt_tokens(messages)
    if spec.context_tokens and tokens > spec.context_tokens:
        raise bad_request(1261, MSG_PROMPT_TOO_LONG)
    return ChatRequest(
        spec,
        messages,
        max_tokens,
        stop,
        tokens,
        images,
        _thinks(body, spec),
        _json(body, spec),
        _web_search(body, spec),
        _functions(body),
    )


FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _functions(body: dict) -> tuple[dict, ...]:
    """The function tools, each ``{"name", "description", "parameters"}``; a nameless one, or
    parameters that are not an object, is a 1214."""
    found = []
    for tool in body.get("tools") or ():
        if tool.get("type") != "function":
            continue
        function = tool.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not FUNCTION_NAME.match(name):
            raise invalid("tools")
        if not isinstance(function.get("parameters", {}), dict):
            raise invalid("tools")
        found.append(function)
    return tuple(found)


SEARCH_ENGINES = ("search_std", "search_pro", "search_pro_sogou", "search_pro_quark")


def _web_search(body: dict, spec: ModelSpec) -> dict | None:
    """The web_search tool's options when it is enabled; a tool without its object, or with an
    engine or count the API does not know, is a 1214 (the real service refuses them too)."""
    tools = body.get("tools")
    if tools is None:
        return None
    if not isinstance(tools, list) or not all(isinstance(tool, dict) for tool in tools):
        raise invalid("tools")
    for tool in tools:
        if tool.get("type") != "web_search":
            continue
        options = tool.get("web_search")
        if not isinstance(options, dict):
            raise invalid("tools")
        count = options.get("count", 10)
        engine = options.get("search_engine", "search_std")
        if engine not in SEARCH_ENGINES or not isinstance(count, int) or not 1 <= count <= 50:
            raise invalid("tools")
        return options if options.get("enable", True) and spec.web_search else None
    return None


def _json(body: dict, spec: ModelSpec) -> bool:
    """response_format json_object: only text models take it (the API reference's words)."""
    response_format = body.get("response_format")
    if response_format is None:
        return False
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind not in ("text", "json_object"):
        raise invalid("response_format")
    return kind == "json_object" and spec.json_output


def _thinks(body: dict, spec: ModelSpec) -> bool:
    """Whether the reply thinks first: on by default for a thinking model, off when the request
    says ``{"type": "disabled"}`` (a model that always thinks ignores that)."""
    thinking = body.get("thinking")
    if thinking is not None and (
        not isinstance(thinking, dict)
        or thinking.get("type") not in ("enabled", "disabled")
        or not isinstance(thinking.get("clear_thinking", True), bool)
    ):
        raise invalid("thinking")
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in spec.reasoning_efforts:
        raise invalid("reasoning_effort")
    if spec.thinking == "always":
        return True
    if effort in ("none", "minimal"):  # GLM-5.2: these skip the thinking
        return False
    return bool(spec.thinking) and (thinking or {}).get("type") != "disabled"


def _check_messages(messages: object) -> None:
    if not isinstance(messages, list) or not messages:
        raise bad_request(1214, MSG_BAD_MESSAGES)
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise bad_request(1214, MSG_BAD_MESSAGES)
    if all(m["role"] == "system" for m in messages):
        raise bad_request(1214, MSG_BAD_MESSAGES)
    # A conversation continues after a user turn or a tool result, never after the model.
    if messages[-1]["role"] not in ("user", "tool"):
        raise bad_request(1214, MSG_BAD_MESSAGES)
    _check_tool_results(messages)


def _check_tool_results(messages: list[dict]) -> None:
    """Each function call is answered by a tool message naming its id, straight after the reply
    that made it; a tool message answers a call."""
    waiting: set = set()
    for message in messages:
        if message["role"] == "tool":
            if message.get("tool_call_id") not in waiting:
                raise bad_request(1214, MSG_BAD_MESSAGES)
            waiting.discard(message["tool_call_id"])
            continue
        if waiting:
            raise bad_request(1214, MSG_BAD_MESSAGES)
        if message["role"] == "assistant":
            calls = message.get("tool_calls") or []
            if not isinstance(calls, list) or not all(isinstance(c, dict) for c in calls):
                raise bad_request(1214, MSG_BAD_MESSAGES)
            waiting = {call.get("id") for call in calls}


def _check_unit(body: dict, name: str, allowed: Range | None, strict: bool) -> None:
    value = body.get(name)
    if value is None:
        return
    low, high = (allowed.min, allowed.max) if allowed else (0.0, 1.0)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(name)
    if not low <= value <= high or (strict and not 0 < value < 1):
        raise invalid(name)


def _check_max_tokens(body: dict, spec: ModelSpec) -> int:
    value = body.get("max_tokens")
    limit = spec.max_output_tokens or 4095
    if value is None:
        return spec.default_max_tokens or limit
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise bad_request(1210, f"max_tokens参数非法：限制数值范围[1,{limit}]")
    return value


def _check_stop(body: dict, strict: bool) -> list[str]:
    stop = body.get("stop")
    if stop is None:
        return []
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise invalid("stop")
    if strict and len(stop) > 1:
        raise invalid("stop")  # "目前仅支持单个停止词": one stop word only
    return stop


def _check_content(index: int, message: dict, spec: ModelSpec) -> int:
    """Validate one message's content; return how many images it carries."""
    content = message.get("content")
    if content is None:
        if message["role"] == "assistant" and message.get("tool_calls"):
            return 0
        raise bad_request(1214, MSG_BAD_MESSAGES)
    if isinstance(content, str):
        return 0
    if not isinstance(content, list) or not content:
        raise bad_request(1214, MSG_BAD_MESSAGES)
    images = 0
    for part_index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        where = f"messages[{index}].content[{part_index}]"
        if kind == "text" and isinstance(part.get("text"), str):
            continue
        if kind != "image_url":
            raise bad_request(1214, f"{where}.type type error")
        if spec.kind != "vision" or message["role"] != "user":
            raise bad_request(1214, f"{where}.type type error：当前模型不支持图片输入。")
        check_image(part.get("image_url"), spec, where)
        images += 1
    return images


def check_image(image_url: object, spec: ModelSpec, where: str) -> None:
    url = image_url.get("url") if isinstance(image_url, dict) else image_url
    if not isinstance(url, str) or not url.strip():
        raise bad_request(1214, f"{where}.image_url参数非法。")
    url = url.strip()
    if url.startswith(("http://", "https://")):
        return  # not fetched: the upstream would, the simulator only accepts the form
    limits = spec.images
    assert limits is not None  # only vision models get here, and they read images
    if not limits.base64:
        raise bad_request(
            1210, f"{MSG_BAD_IMAGE}：{spec.name} 不支持 base64 编码的图片，请传入图片 URL。"
        )
    data = url.split(",", 1)[1] if url.startswith("data:") and "," in url else url
    if len(data) > limits.max_bytes * 4 // 3 + 4:
        raise bad_request(1210, f"{MSG_BAD_IMAGE}：图片大小超过{limits.max_bytes // 1048576}MB。")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request(1210, f"{MSG_BAD_IMAGE}：base64 解码失败。") from None
    _check_picture(raw, limits)


def _check_picture(raw: bytes, limits: ImageLimits) -> None:
    if len(raw) > limits.max_bytes:
        raise bad_request(1210, f"{MSG_BAD_IMAGE}：图片大小超过{limits.max_bytes // 1048576}MB。")
    try:
        with Image.open(io.BytesIO(raw)) as picture:
            kind, size = picture.format, picture.size
            picture.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise bad_request(1210, f"{MSG_BAD_IMAGE}：无法识别的图片。") from None
    if kind not in limits.formats:
        raise bad_request(1210, f"{MSG_BAD_IMAGE}：仅支持 {'/'.join(limits.formats)} 格式。")
    if max(size) > limits.max_side:
        raise bad_request(
            1210, f"{MSG_BAD_IMAGE}：图片尺寸不能超过{limits.max_side}×{limits.max_side}。"
        )


def check_image_generation(
    body: dict, catalogue: dict[str, ModelSpec]
) -> tuple[ModelSpec, str, tuple[int, int]]:
    spec = resolve_model(body, catalogue, ("image",), "images/generations")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise missing("prompt")
    if spec.prompt_max_chars and len(prompt) > spec.prompt_max_chars:
        raise bad_request(1261, MSG_PROMPT_TOO_LONG)
    default = spec.default_size or "1024x1024"
    size = body.get("size", default)
    if size not in (spec.sizes or (default,)):
        raise invalid("size")
    quality = body.get("quality")
    if quality is not None and quality not in (spec.qualities or ("standard",)):
        raise invalid("quality")
    width, height = (int(n) for n in size.split("x"))
    return spec, prompt, (width, height)


def check_embeddings(
    body: dict, catalogue: dict[str, ModelSpec]
) -> tuple[ModelSpec, list[str], int]:
    spec = resolve_model(body, catalogue, ("embedding",), "embeddings")
    texts = body.get("input")
    if texts is None:
        raise missing("input")
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
        raise invalid("input")
    if spec.max_inputs and len(texts) > spec.max_inputs:
        raise invalid("input")
    if spec.context_tokens and any(count_tokens(t) > spec.context_tokens for t in texts):
        raise bad_request(1261, MSG_PROMPT_TOO_LONG)
    dims = body.get("dimensions", spec.default_dimensions or 1024)
    if isinstance(dims, bool) or dims not in (spec.dimensions or (dims,)):
        raise invalid("dimensions")
    return spec, texts, int(dims)


__all__ = [
    "ApiError",
    "ChatRequest",
    "check_chat",
    "check_embeddings",
    "check_image_generation",
    "drop_nulls",
]
