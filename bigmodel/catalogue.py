"""The model catalogue: what each model accepts, as data (``catalogue.json``).

The app loads these entries into its database (``manage.py loadcatalogue``) and hands
``ModelSpec`` objects back to this package, which never imports Django.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

Kind = Literal["chat", "vision", "image", "embedding"]
# How a model thinks: "" not at all; "forced" whenever thinking is enabled (the default) and
# "auto" when the model judges it worth it (both can be disabled per call); "always" cannot be
# turned off.
Thinking = Literal["", "forced", "auto", "always"]
CATALOGUE_FILE = Path(__file__).with_name("catalogue.json")


@dataclass(frozen=True)
class Range:
    """An inclusive numeric range with the model's default."""

    min: float
    max: float
    default: float

    def contains(self, value: float) -> bool:
        return self.min <= value <= self.max


@dataclass(frozen=True)
class ImageLimits:
    max_count: int
    max_bytes: int
    max_side: int
    formats: tuple[str, ...]
    base64: bool


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: Kind
    label: str
    deprecated: bool = False
    context_tokens: int = 0
    max_output_tokens: int = 0
    default_max_tokens: int = 0
    temperature: Range | None = None
    top_p: Range | None = None
    images: ImageLimits | None = None
    prompt_max_chars: int = 0
    sizes: tuple[str, ...] = ()
    default_size: str = ""
    dimensions: tuple[int, ...] = ()
    default_dimensions: int = 0
    max_inputs: int = 0
    family: str = ""
    thinking: Thinking = ""
    preserved_thinking: bool = False  # takes clear_thinking false: keeps earlier thinking
    reasoning_efforts: tuple[str, ...] = ()  # the reasoning_effort values it takes, if any
    default_reasoning_effort: str = ""
    tools: bool = False  # function calling
    web_search: bool = False  # the built-in web_search tool
    json_output: bool = False  # response_format json_object
    cached_input: bool = False  # the upstream's context cache (cache hits priced apart)
    video: bool = False
    qualities: tuple[str, ...] = ()
    default_quality: str = ""
    async_images: bool = False  # also has async/images/generations
    retirement: str = ""  # retired or retiring, in words, with the date where BigModel gave one
    source: str = ""  # where the figures above were read, and when
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def chats(self) -> bool:
        return self.kind in ("chat", "vision")

    @classmethod
    def from_dict(cls, data: dict) -> ModelSpec:
        data = {k: v for k, v in data.items() if not k.startswith("_")}
        known = set(cls.__dataclass_fields__)
        extra = {k: v for k, v in data.items() if k not in known}
        kwargs = {k: v for k, v in data.items() if k in known and k != "extra"}
        for key in ("temperature", "top_p"):
            if kwargs.get(key) is not None:
                kwargs[key] = Range(*kwargs[key])
        if kwargs.get("images") is not None:
            images = dict(kwargs["images"])
            images["formats"] = tuple(images["formats"])
            kwargs["images"] = ImageLimits(**images)
        for key in ("sizes", "dimensions", "qualities", "reasoning_efforts"):
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs, extra=extra)

    def to_dict(self) -> dict:
        data = asdict(self)
        extra = data.pop("extra")
        for key in ("temperature", "top_p"):
            if data[key] is not None:
                data[key] = [data[key]["min"], data[key]["max"], data[key]["default"]]
        if data["images"] is not None:
            data["images"]["formats"] = list(data["images"]["formats"])
        for key in ("sizes", "dimensions", "qualities", "reasoning_efforts"):
            data[key] = list(data[key])
        return {**data, **extra}


def catalogue_entries(path: Path = CATALOGUE_FILE) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["models"]


@cache
def default_catalogue() -> dict[str, ModelSpec]:
    """The shipped catalogue keyed by model name (the simulator uses it too)."""
    return {entry["name"]: ModelSpec.from_dict(entry) for entry in catalogue_entries()}
