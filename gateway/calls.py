"""The kinds of call the endpoint meters, each with what its body may hold (as the official SDK
sends it) and its worst case, which is held before the call is made."""

from collections.abc import Callable
from dataclasses import dataclass

from accounts.models.catalogue import CHAT_KINDS, IMAGE_KINDS
from accounts.services.holds import WorstCase, chat_worst_case
from bigmodel.catalogue import ModelSpec
from bigmodel.params import max_tokens_problem
from bigmodel.tools import tools_problem, web_search_problem


@dataclass(frozen=True)
class Kind:
    name: str
    model_kinds: tuple[str, ...]  # the catalogue's kinds of model it calls
    problem: Callable[[ModelSpec, dict], str]  # what the console cannot meter as it is ("": none)
    worst_case: Callable[[ModelSpec, dict], WorstCase]


# The chat API's fields (the official SDK's create()), and the tools the console can price.
FIELDS = {
    "model", "messages", "request_id", "user_id", "do_sample", "stream", "temperature", "top_p",
    "max_tokens", "seed", "stop", "sensitive_word_check", "tools", "tool_choice", "meta",
    "extra", "response_format", "thinking", "watermark_enabled", "tool_stream",
    "reasoning_effort",
}  # fmt: skip
TOOL_TYPES = ("function", "web_search")
# The parts of a message whose worst case the console knows (a video's or a file's it does not).
PART_TYPES = ("text", "image_url")


def _chat_problem(spec: ModelSpec, body: dict) -> str:
    """What in the body the console cannot meter as it is (the upstream checks the rest)."""
    if unknown := sorted(set(body) - FIELDS):
        return f"unknown field {', '.join(unknown)}"
    if not isinstance(body.get("stream", False), bool):
        return "stream must be true or false"
    most = body.get("max_tokens")
    if most is not None and (isinstance(most, bool) or not isinstance(most, int)):
        return "max_tokens must be a whole number"
    if problem := max_tokens_problem(spec, most):
        return problem
    return _messages_problem(body.get("messages")) or _tools_problem(spec, body.get("tools"))


def _messages_problem(messages: object) -> str:
    if not isinstance(messages, list) or not messages:
        return "messages must be a list of messages"
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            return "each message needs a role"
        content = message.get("content")
        parts = content if isinstance(content, list) else []
        if not (content is None or isinstance(content, str) or isinstance(content, list)):
            return "a message's content must be text or a list of parts"
        if not all(isinstance(p, dict) and isinstance(p.get("text", ""), str) for p in parts):
            return "each part of a message's content must be an object, its text text"
        if odd := sorted({str(p.get("type")) for p in parts} - set(PART_TYPES)):
            return f"the console cannot meter {', '.join(odd)} parts (only {', '.join(PART_TYPES)})"
        if not isinstance(message.get("reasoning_content", ""), str):
            return "reasoning_content must be text"
        if not isinstance(message.get("tool_calls", []), list):
            return "tool_calls must be a list"
    return ""


def _tools_problem(spec: ModelSpec, tools: object) -> str:
    if tools is None:
        return ""
    if not isinstance(tools, list) or not all(isinstance(tool, dict) for tool in tools):
        return "tools must be a list of tools"
    if odd := sorted({str(t.get("type")) for t in tools} - set(TOOL_TYPES)):
        return f"the console offers no {', '.join(odd)} tool (only {', '.join(TOOL_TYPES)})"
    functions = [tool for tool in tools if tool["type"] == "function"]
    searches = [tool.get("web_search") for tool in tools if tool["type"] == "web_search"]
    if len(searches) > 1 or (searches and not isinstance(searches[0], dict)):
        return "one web_search tool, with its options as an object"
    return (tools_problem(spec, functions) if functions else "") or (
        web_search_problem(spec, searches[0]) if searches else ""
    )


# encoding_format: the openai SDK asks for base64 unless told otherwise, and takes the floats
# BigModel answers with as they are; it is not sent on.
EMBEDDING_FIELDS = {"model", "input", "dimensions", "encoding_format"}


def _inputs(body: dict) -> list:
    given = body.get("input")
    return [given] if isinstance(given, str) else given if isinstance(given, list) else []


def _embedding_problem(spec: ModelSpec, body: dict) -> str:
    if unknown := sorted(set(body) - EMBEDDING_FIELDS):
        return f"unknown field {', '.join(unknown)}"
    if body.get("encoding_format", "float") not in ("float", "base64"):
        return "encoding_format must be float or base64"
    inputs = _inputs(body)
    if not inputs or not all(isinstance(text, str) and text for text in inputs):
        return "input must be text, or a list of texts"
    dimensions = body.get("dimensions")
    if dimensions is not None and spec.dimensions and dimensions not in spec.dimensions:
        return f"dimensions must be one of {', '.join(map(str, spec.dimensions))}"
    return ""


def _embedding_worst_case(spec: ModelSpec, body: dict) -> WorstCase:
    """Embeddings bill their input only: each text at most its UTF-8 bytes (no tokenizer counts
    more), and no more than the model reads of one."""
    sizes = [len(text.encode()) for text in _inputs(body)]
    if spec.context_tokens:
        sizes = [min(size, spec.context_tokens) for size in sizes]
    return WorstCase(model=spec.name, prompt_tokens=sum(sizes))


IMAGE_FIELDS = {"model", "prompt", "size", "quality", "request_id", "user_id"}


def _image_problem(spec: ModelSpec, body: dict) -> str:
    if unknown := sorted(set(body) - IMAGE_FIELDS):
        return f"unknown field {', '.join(unknown)}"
    if not isinstance(body.get("prompt"), str) or not body["prompt"].strip():
        return "prompt must be text"
    for name, offered in (("size", spec.sizes), ("quality", spec.qualities)):
        value = body.get(name)
        if value is not None and offered and value not in offered:
            return f"{name} must be one of {', '.join(offered)}"
    return ""


def _image_made(spec: ModelSpec, body: dict) -> WorstCase:
    """One image, of the size and quality asked for (the model's defaults when none is)."""
    return WorstCase(
        model=spec.name,
        images=1,
        size=body.get("size") or spec.default_size,
        quality=body.get("quality") or spec.default_quality,
    )


def _queued_chat_problem(spec: ModelSpec, body: dict) -> str:
    if body.get("stream"):
        return "a call through the queue cannot stream"
    return _chat_problem(spec, body)


CHAT = Kind("chat", CHAT_KINDS, _chat_problem, chat_worst_case)
QUEUED_CHAT = Kind("queued chat", CHAT_KINDS, _queued_chat_problem, chat_worst_case)
EMBEDDINGS = Kind("embeddings", ("embedding",), _embedding_problem, _embedding_worst_case)
IMAGES = Kind("images", IMAGE_KINDS, _image_problem, _image_made)
