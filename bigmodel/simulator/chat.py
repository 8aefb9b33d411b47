"""Chat completions: turning a validated request into the upstream JSON shapes."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from .faults import Faults
from .replies import (
    compose_reply,
    count_tokens,
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
    completion_tokens: int
    cached_tokens: int = 0

    def usage(self) -> dict:
        return {
            "prompt_tokens": self.prompt_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens},
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


def new_id() -> str:
    """Ids look like 2025-era upstream ones: ``yyyyMMddHHmmss`` + 16 hex characters."""
    return datetime.now().strftime("%Y%m%d%H%M%S") + secrets.token_hex(8)


def last_user_text(messages: list[dict]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return message_text(message.get("content"))
    return ""


def make_reply(req: ChatRequest, body: dict, faults: Faults) -> Reply:
    seed = reply_seed(
        req.spec.name,
        req.messages,
        body.get("seed"),
        body.get("temperature"),
        body.get("do_sample"),
    )
    text = compose_reply(seed, last_user_text(req.messages), has_images=req.image_count > 0)
    finish = "stop"
    hits = [text.index(s) for s in req.stop if s in text]
    if hits:
        text = text[: min(hits)]
    text, cut = truncate_tokens(text, req.max_tokens)
    if cut:
        finish = "length"
    if faults.finish_reason:
        # Moderation / inference failure: the model stops half-way through.
        text, _ = truncate_tokens(text, count_tokens(text) // 2)
        finish = faults.finish_reason
    return Reply(text, finish, req.prompt_tokens, count_tokens(text), cached_tokens(req))


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
                "message": {"content": reply.text, "role": "assistant"},
            }
        ],
        "created": int(time.time()),
        "id": reply_id,
        "model": model,
        "request_id": request_id or reply_id,
        "usage": reply.usage(),
    }


@dataclass
class AsyncTask:
    task_id: str
    request_id: str
    model: str
    submitted: float
    reply: Reply
    fail: bool = False

    def status_body(self, now: float, processing_seconds: float) -> dict:
        head = {"id": self.task_id, "request_id": self.request_id, "model": self.model}
        if now - self.submitted < processing_seconds:
            return {**head, "task_status": "PROCESSING"}
        if self.fail:
            return {**head, "task_status": "FAIL"}
        body = completion_body(self.reply, self.model, self.request_id)
        return {
            **head,
            "task_status": "SUCCESS",
            "created": body["created"],
            "choices": body["choices"],
            "usage": body["usage"],
        }


def new_task_id() -> str:
    """Upstream async ids look like ``47691696322760895-8374382001389435212``."""
    return f"{secrets.randbelow(10**17):017d}-{secrets.randbelow(10**19):019d}"
