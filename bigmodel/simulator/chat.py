"""Chat completions: turning a validated request into the upstream JSON shapes."""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from .faults import Faults, strip_markers
from .replies import (
    compose_reasoning,
    compose_reply,
    count_tokens,
    digest,
    message_text,
    prompt_tokens,
    reply_seed,
    truncate_tokens,
)
from .validation import ChatRequest


@dataclass
class Reply:
    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int  # the reasoning included
    cached_tokens: int = 0
    reasoning: str = ""
    search_results: list[dict] | None = None  # the web_search tool's, shown to the caller
    tool_calls: list[dict] | None = None  # the functions the model asks the caller to run

    def usage(self) -> dict:
        usage = {
            "prompt_tokens": self.prompt_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens},
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }
        if self.reasoning:
            usage["completion_tokens_details"] = {"reasoning_tokens": count_tokens(self.reasoning)}
        return usage


def new_id() -> str:
    """Ids look like 2025-era upstream ones: ``yyyyMMddHHmmss`` + 16 hex characters."""
    return datetime.now().strftime("%Y%m%d%H%M%S") + secrets.token_hex(8)


def last_user_text(messages: list[dict]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return message_text(message.get("content"))
    return ""


def make_reply(req: ChatRequest, body: dict, faults: Faults) -> Reply:
    if calls := function_calls(req):  # a thinking model thinks before it calls
        arguments = "".join(call["function"]["arguments"] for call in calls)
        reasoning = compose_reasoning(digest(arguments), last_user_text(req.messages))
        reasoning = reasoning if req.thinks else ""
        completion = count_tokens(reasoning) + count_tokens(arguments)
        return Reply(
            "",
            "tool_calls",
            req.prompt_tokens,
            completion,
            cached_tokens(req),
            reasoning,
            tool_calls=calls,
        )
    return _text_reply(req, body, faults)


def function_calls(req: ChatRequest) -> list[dict]:
    """The model calls a function whose name the user's last message mentions (deterministic);
    after a tool's result it answers instead."""
    if not req.functions or req.messages[-1].get("role") != "user":
        return []
    text = last_user_text(req.messages)
    named = [function for function in req.functions if function["name"] in text][:1]
    return [
        {
            "id": f"call_{digest(text + function['name']):016x}",
            "type": "function",
            "index": 0,
            "function": {
                "name": function["name"],
                "arguments": json.dumps(example_arguments(function.get("parameters") or {})),
            },
        }
        for function in named
    ]


def example_arguments(schema: dict) -> dict:
    """A value for each required property (all of them if none is required), by its type."""
    properties = schema.get("properties") or {}
    wanted = schema.get("required") or list(properties)
    examples = {"integer": 1, "number": 1.5, "boolean": True, "array": [], "object": {}}
    return {
        name: (properties.get(name) or {}).get("enum", [None])[0]
        or examples.get((properties.get(name) or {}).get("type", "string"), "example")
        for name in wanted
    }


def _text_reply(req: ChatRequest, body: dict, faults: Faults) -> Reply:
    seed = reply_seed(
        req.spec.name,
        req.messages,
        body.get("seed"),
        body.get("temperature"),
        body.get("do_sample"),
    )
    text = compose_reply(seed, last_user_text(req.messages), has_images=req.image_count > 0)
    if req.messages[-1].get("role") == "tool":  # the answer after a function's result
        text = f"The tool answered: {message_text(req.messages[-1].get('content'))[:80]}. {text}"
    results = (
        [] if faults.nosearch else search_results(last_user_text(req.messages), req.web_search)
    )
    if results:
        text = f"{text} [{results[0]['refer']}]"
    if req.json_output:
        text = as_json_reply(text, broken=faults.badjson)
    finish = "stop"
    hits = [text.index(s) for s in req.stop if s in text]
    if hits:
        text = text[: min(hits)]
    # Thinking comes first and counts against max_tokens; the answer gets what is left.
    reasoning = compose_reasoning(seed, last_user_text(req.messages)) if req.thinks else ""
    reasoning, _ = truncate_tokens(reasoning, req.max_tokens)
    text, cut = truncate_tokens(text, req.max_tokens - count_tokens(reasoning))
    if cut:
        finish = "length"
    if faults.finish_reason:
        # Moderation / inference failure: the model stops half-way through.
        text, _ = truncate_tokens(text, count_tokens(text) // 2)
        finish = faults.finish_reason
    completion = count_tokens(reasoning) + count_tokens(text)
    return Reply(
        text,
        finish,
        req.prompt_tokens,
        completion,
        cached_tokens(req),
        reasoning,
        results if req.web_search and req.web_search.get("search_result") else None,
    )


def search_results(prompt: str, options: dict | None) -> list[dict]:
    """Deterministic results for the web_search tool: ``count`` pages about the prompt."""
    if options is None:
        return []
    words = [word for word in re.findall(r"\w+", strip_markers(prompt).lower())][:4] or ["web"]
    slug = "-".join(words)
    return [
        {
            "title": f"{' '.join(words).capitalize()}: result {n}",
            "link": f"https://search.example.com/{slug}/{n}",
            "content": f"What page {n} says about {' '.join(words)}.",
            "media": "Example Search",
            "icon": "https://search.example.com/favicon.ico",
            "refer": f"ref_{n}",
            "publish_date": "2026-11-30",
        }
        for n in range(1, int(options.get("count", 10)) + 1)
    ]


def as_json_reply(text: str, *, broken: bool) -> str:
    """JSON mode: the reply as one JSON object (``[[fault:badjson]]``: cut short, not parseable)."""
    reply = json.dumps({"answer": text, "words": len(text.split())}, ensure_ascii=False, indent=2)
    return reply[: len(reply) // 2] if broken else reply


def cached_tokens(req: ChatRequest) -> int:
    """Deterministic cache hits: for a model with a context cache, everything before the last
    message was sent before (the earlier turns of the same conversation), so it is served from
    the cache."""
    if not req.spec.cached_input or len(req.messages) < 2:
        return 0
    return prompt_tokens(req.messages[:-1])


def completion_body(reply: Reply, model: str, request_id: str | None) -> dict:
    reply_id = new_id()
    return {
        "choices": [
            {
                "finish_reason": reply.finish_reason,
                "index": 0,
                "message": {
                    "content": reply.text,
                    "role": "assistant",
                    **({"reasoning_content": reply.reasoning} if reply.reasoning else {}),
                    **({"tool_calls": reply.tool_calls} if reply.tool_calls else {}),
                },
            }
        ],
        "created": int(time.time()),
        "id": reply_id,
        "model": model,
        "request_id": request_id or reply_id,
        "usage": reply.usage(),
        **({"web_search": reply.search_results} if reply.search_results else {}),
    }


@dataclass
class AsyncTask:
    task_id: str
    request_id: str
    model: str
    submitted: float
    reply: Reply | None  # a queued completion's; None for a queued image
    fail: bool = False
    image_url: str = ""  # a queued image's, once made
    no_usage: bool = False  # its result leaves usage out ([[fault:nousage]])

    def status_body(self, now: float, processing_seconds: float) -> dict:
        head = {"id": self.task_id, "request_id": self.request_id, "model": self.model}
        if now - self.submitted < processing_seconds:
            return {**head, "task_status": "PROCESSING"}
        if self.fail:
            return {**head, "task_status": "FAIL"}
        if self.reply is None:
            return {**head, "task_status": "SUCCESS", "image_result": [{"url": self.image_url}]}
        body = completion_body(self.reply, self.model, self.request_id)
        return {
            **head,
            "task_status": "SUCCESS",
            "created": body["created"],
            "choices": body["choices"],
            **({} if self.no_usage else {"usage": body["usage"]}),
        }


def new_task_id() -> str:
    """Upstream async ids look like ``47691696322760895-8374382001389435212``."""
    return f"{secrets.randbelow(10**17):017d}-{secrets.randbelow(10**19):019d}"
