"""The tools a chat call may carry: the functions the model may call (their definitions
checked as the API takes them) and the built-in web_search tool with its options."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from jsonschema.exceptions import SchemaError
from jsonschema.validators import Draft202012Validator

from .catalogue import ModelSpec, Range

SEARCH_ENGINES = ("search_std", "search_pro", "search_pro_sogou", "search_pro_quark")
SEARCH_RECENCY = ("noLimit", "oneDay", "oneWeek", "oneMonth", "oneYear")
SEARCH_COUNT = Range(1, 50, 10)


def web_search_problem(spec: ModelSpec, options: Any) -> str:
    """``options``: the web_search tool's (search_engine, count, search_recency_filter)."""
    if options is None:
        return ""
    if not spec.web_search:
        return f"{spec.label} does not offer the web_search tool."
    if options.get("search_engine", SEARCH_ENGINES[0]) not in SEARCH_ENGINES:
        return f"search_engine must be one of {', '.join(SEARCH_ENGINES)}."
    count = options.get("count", SEARCH_COUNT.default)
    if isinstance(count, bool) or not isinstance(count, int) or not SEARCH_COUNT.contains(count):
        return f"count must be a whole number from {SEARCH_COUNT.min:g} to {SEARCH_COUNT.max:g}."
    if options.get("search_recency_filter", SEARCH_RECENCY[0]) not in SEARCH_RECENCY:
        return f"search_recency_filter must be one of {', '.join(SEARCH_RECENCY)}."
    return ""


FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def functions_in(tools: Any) -> list:
    """The function definitions in ``tools`` as a user writes them: a list (or just one) of
    ``{"type": "function", "function": {...}}`` as the API takes them, or of the bare
    ``{"name", "description", "parameters"}``."""
    items = tools if isinstance(tools, list) else [tools]
    return [
        item.get("function") if isinstance(item, dict) and item.get("type") == "function" else item
        for item in items
    ]


def tools_problem(spec: ModelSpec, tools: Any) -> str:
    if tools is None:
        return ""
    if not spec.tools:
        return f"{spec.label} does not call functions: leave tools empty."
    functions = functions_in(tools)
    if not functions:
        return "tools is an empty list: define a function, or leave tools empty."
    if len(functions) > MAX_FUNCTIONS:
        return f"at most {MAX_FUNCTIONS} functions can be defined (got {len(functions)})."
    if problem := _sizes_problem(functions):
        return problem
    names: set[str] = set()
    for number, function in enumerate(functions, 1):
        problem = _function_problem(function, number)
        if not problem and function["name"] in names:
            problem = f"two functions are named “{function['name']}”; each needs its own name."
        if problem:
            return problem
        names.add(function["name"])
    return ""


# What a call may define, checked before any schema is: checking schemas costs time in
# proportion to their size, on the threads every request shares.
MAX_FUNCTIONS = 128
MAX_SCHEMA_BYTES = 64 * 1024


def _sizes_problem(functions: list) -> str:
    for number, function in enumerate(functions, 1):
        if not isinstance(function, dict):
            continue  # its own check says what is wrong with it
        try:
            size = len(json.dumps(function.get("parameters"), ensure_ascii=False).encode())
        except RecursionError:
            return f"function {number}'s parameters are nested too deeply to be checked."
        if size > MAX_SCHEMA_BYTES:
            name = function.get("name") if isinstance(function.get("name"), str) else number
            return (
                f"function {name}'s parameters are {size // 1024} KiB of JSON Schema; "
                f"at most {MAX_SCHEMA_BYTES // 1024} KiB each."
            )
    return ""


def _function_problem(function: Any, number: int) -> str:
    """A function's name, description and parameters as the API takes them; the parameters a
    JSON Schema for an object (the model writes the arguments as one JSON object)."""
    if not isinstance(function, dict):
        return f"function {number} must be an object with a name, a description and parameters."
    name = function.get("name")
    if not isinstance(name, str) or not FUNCTION_NAME.match(name):
        return f"function {number}'s name must be 1 to 64 letters, digits, _ or - (got {name!r})."
    unknown = sorted(set(function) - {"name", "description", "parameters"})
    if unknown:
        fields = ", ".join(unknown)
        return f"{name}: unknown field {fields} (a function has name, description, parameters)."
    if not isinstance(function.get("description", ""), str):
        return f"{name}: description must be text."
    parameters = function.get("parameters", {"type": "object", "properties": {}})
    if not isinstance(parameters, dict) or parameters.get("type") != "object":
        return f'{name}: parameters must be a JSON Schema of "type": "object".'
    try:
        Draft202012Validator.check_schema(parameters)
    except SchemaError as error:
        where = "/".join(str(part) for part in error.absolute_path) or "the top"
        return f"{name}: parameters is not a valid JSON Schema ({error.message}, at {where})."
    except RecursionError:
        return f"{name}: parameters is nested too deeply to be checked."
    return ""


def tools_for(functions: Any, web_search: dict | None) -> list[dict] | None:
    """The functions as the API takes them, then the built-in search when it is on."""
    tools = (
        [{"type": "function", "function": f} for f in functions_in(functions)] if functions else []
    )
    if web_search is not None:
        tools.append(web_search_tool(web_search))
    return tools or None


def web_search_options(body: Mapping[str, Any]) -> dict | None:
    """The web_search tool's options in a request body (or the parameters kept from one), or None
    when it has no such tool."""
    for tool in body.get("tools") or ():
        if isinstance(tool, dict) and tool.get("type") == "web_search":
            return tool.get("web_search") or {}
    return None


def search_engine_of(body: Mapping[str, Any]) -> str:
    """The engine the web_search tool of a request body (or the parameters kept from one) uses,
    or "" when it has none: what a call that searched is billed by."""
    options = web_search_options(body)
    return "" if options is None else str(options.get("search_engine") or SEARCH_ENGINES[0])


def search_pages_of(body: Mapping[str, Any]) -> int:
    """How many pages the web_search tool of a request body may read (0 without one)."""
    options = web_search_options(body)
    return 0 if options is None else int(options.get("count") or SEARCH_COUNT.default)


def web_search_tool(options: dict) -> dict:
    """The built-in tool, asking for the pages it read back (``search_result``) to list them."""
    return {"type": "web_search", "web_search": {"enable": True, "search_result": True, **options}}
