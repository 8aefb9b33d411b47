"""What a chat call used, decided one way for every path that makes one (the playground's replies,
the endpoint's plain, streamed and queued calls, a reply finished by the sweeper): the upstream's
own usage when it gave one, otherwise one estimate from what the call asked and what arrived;
and whether it paid for a search."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .sse import Usage
from .tokens import SEARCH_PAGE_TOKENS, estimate_request_tokens, estimate_tokens
from .tools import search_engine_of, search_pages_of, web_search_options


@dataclass(frozen=True)
class Asked:
    """What a chat call asked for, as far as its usage is concerned: its prompt's estimate, the
    pages a search may add to it, its search engine ("" when it cannot search) and whether it
    asked for the pages to be listed. Small enough to keep beside a call whose body is gone."""

    prompt: int
    search_pages: int = 0
    engine: str = ""
    lists_pages: bool = False

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Asked:
        options = web_search_options(body) or {}
        return cls(
            prompt=estimate_request_tokens(body, searched=False),
            search_pages=SEARCH_PAGE_TOKENS * search_pages_of(body),
            engine=search_engine_of(body),
            lists_pages=bool(options.get("search_result")),
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def kept(cls, data: Mapping[str, Any]) -> Asked:
        """From ``to_dict``'s output; a call kept before it was (nothing asked) estimates 0."""
        return cls(**{"prompt": 0, **data})

    def searched(self, listed: bool | None) -> str:
        """The engine a call searched with, or "". A call whose body enabled the search pays for
        it, whether or not it asked to see the pages, unless the upstream showed it did not search:
        it was asked to list the pages (``listed``: whether any were, None when its answer was
        never seen) and listed none."""
        if not self.engine or (listed is False and self.lists_pages):
            return ""
        return self.engine


@dataclass(frozen=True)
class CallUsage:
    """A call's usage as the ledger records it (tokens, images, its search) and whether it is
    exact."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    images: int = 0
    search_engine: str = ""
    exact: bool = True

    @property
    def searches(self) -> int:
        return int(bool(self.search_engine))

    def record_fields(self) -> dict:
        """As the usage record's columns."""
        return {**asdict(self), "searches": self.searches}


@dataclass(frozen=True)
class Arrived:
    """What came back of a chat call, however it ended: the upstream's usage (None: it gave none),
    the thinking, the answer and the calls that arrived, and whether the search's pages came
    (``listed``; None when no answer was seen)."""

    usage: Usage | None = None
    thinking: str = ""
    text: str = ""
    tool_calls: tuple[Mapping[str, Any], ...] = ()
    listed: bool | None = None


def _arguments(tool_calls: Iterable[Mapping[str, Any]]) -> str:
    return "".join(
        str((call.get("function") or {}).get("arguments") or "")
        for call in tool_calls
        if isinstance(call, Mapping)
    )


def chat_call_usage(asked: Asked, arrived: Arrived) -> CallUsage:
    """What the call used: its usage as the upstream counted it, or (none came: a stream cut
    short, an answer without usage) an estimate of the prompt and of everything that arrived —
    the thinking, the answer and the arguments of the functions it called — flagged."""
    engine = asked.searched(arrived.listed)
    if (usage := arrived.usage) is not None:
        return CallUsage(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            search_engine=engine,
        )
    everything = arrived.thinking + arrived.text + _arguments(arrived.tool_calls)
    return CallUsage(
        prompt_tokens=asked.prompt + (asked.search_pages if engine else 0),
        completion_tokens=estimate_tokens(everything),
        reasoning_tokens=estimate_tokens(arrived.thinking),
        search_engine=engine,
        exact=False,
    )
