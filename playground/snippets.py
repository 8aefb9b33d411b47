""" "View code": the current request as Python (the official zai-sdk and zhipuai SDKs, the openai
SDK, httpx) and curl, calling this console's own BigModel-compatible endpoint with the member's
API key. The key is always read from the environment (``KEY_VARIABLE``); it is never written into
a snippet. The body is already what the official SDKs would send (they move temperature and top_p
into (0, 1)); the openai SDK carries the fields only GLM has in ``extra_body``."""

import json
from collections.abc import Mapping, Sequence

from bigmodel.catalogue import ModelSpec
from bigmodel.params import build_chat_body, keeps_thinking
from playground.models import Conversation
from playground.selectors import history_for

# Where the snippets read the member's API key for this console (not the site's upstream key).
KEY_VARIABLE = "GLM_CONSOLE_API_KEY"


class ImageRef(str):
    """An image in a snippet: the file's name, read and base64-encoded by the snippet itself."""


def _named(content: object) -> object:
    """Stored images by their file's name (a link stays the link it is)."""
    if isinstance(content, list):
        return [
            {"type": "image_url", "image_url": {"url": ImageRef(part["image_url"]["url"].name)}}
            if part.get("type") == "image_url" and not isinstance(part["image_url"]["url"], str)
            else part
            for part in content
        ]
    return content


def request_body(
    *,
    conversation: Conversation | None,
    spec: ModelSpec,
    system: str,
    text: str,
    params: dict,
    image_names: Sequence[str] = (),
    image_urls: Sequence[str] = (),
) -> dict:
    """What the next turn would send: the history, system first, then the message being typed
    (with the images attached to it, by name)."""
    reads_images = spec.images is not None
    history = (
        history_for(
            conversation=conversation,
            with_images=reads_images,
            keep_thinking=keeps_thinking(params),
        )
        if conversation is not None
        else []
    )
    messages = [{**m, "content": _named(m["content"])} for m in history if m["role"] != "system"]
    if system.strip():
        messages.insert(0, {"role": "system", "content": system})
    content: str | list[Mapping[str, object]] = text or "Hello"
    if reads_images and (image_names or image_urls):
        content = [
            {"type": "text", "text": content},
            *({"type": "image_url", "image_url": {"url": ImageRef(name)}} for name in image_names),
            *({"type": "image_url", "image_url": {"url": url}} for url in image_urls),
        ]
    messages.append({"role": "user", "content": content})
    return build_chat_body(spec, messages=messages, stream=True, **params)


def _has_images(body: dict) -> bool:
    """Whether the snippet must read image files (links need no helper)."""
    return any(
        isinstance(m["content"], list)
        and any(
            p.get("type") == "image_url" and isinstance(p["image_url"]["url"], ImageRef)
            for p in m["content"]
        )
        for m in body["messages"]
    )


def _image_helper(body: dict) -> str:
    if not _has_images(body):
        return ""
    return (
        "def image(path):\n"
        '    """GLM-4V takes an image as the bare base64 of the file."""\n'
        "    return base64.b64encode(Path(path).read_bytes()).decode()\n\n\n"
    )


def _python_imports(body: dict, *modules: str) -> str:
    extra = ["base64"] if _has_images(body) else []
    lines = [f"import {name}" for name in sorted([*extra, *modules])]
    if extra:
        lines.append("from pathlib import Path")
    return "\n".join(lines) + "\n\n"


def body_json(body: dict) -> str:
    """The body as JSON, each image shown as a placeholder for its base64."""
    return json.dumps(_placeholders(body), ensure_ascii=False, indent=2)


def _placeholders(value: object) -> object:
    if isinstance(value, ImageRef):
        return f"<base64 of {value}>"
    if isinstance(value, dict):
        return {key: _placeholders(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_placeholders(item) for item in value]
    return value


def _python_literal(value: object, indent: int) -> str:
    """Like json.dumps(indent=4), in Python's spelling: one message per block, easy to edit."""
    pad, inner = " " * indent, " " * (indent + 4)
    if isinstance(value, dict) and value:
        items = [
            f"{inner}{key!r}: {_python_literal(item, indent + 4)}," for key, item in value.items()
        ]
        return "{\n" + "\n".join(items) + f"\n{pad}}}"
    if (
        isinstance(value, list)
        and value
        and not all(isinstance(item, str | int | float) for item in value)
    ):
        items = [f"{inner}{_python_literal(item, indent + 4)}," for item in value]
        return "[\n" + "\n".join(items) + f"\n{pad}]"
    if isinstance(value, ImageRef):
        return f"image({str(value)!r})"
    return repr(value)


def _arguments(fields: dict) -> str:
    return "\n".join(f"    {key}={_python_literal(value, 4)}," for key, value in fields.items())


PRINT_STREAM = (
    "for chunk in response:\n"
    "    delta = chunk.choices[0].delta\n"
    '    print(getattr(delta, "reasoning_content", None) or delta.content or "", end="", '
    "flush=True)\n"
)


# What the official SDKs' create() names; newer fields go in extra_body.
SDK_FIELDS = {
    "model", "messages", "stream", "temperature", "top_p", "max_tokens", "seed", "stop",
    "do_sample", "request_id", "user_id", "tools", "tool_choice", "response_format", "thinking",
}  # fmt: skip


def _split(body: dict, named: set[str]) -> dict:
    """The fields a create() names, and the rest as its extra_body."""
    fields = {key: value for key, value in body.items() if key in named}
    extra = {key: value for key, value in body.items() if key not in named}
    return fields | {"extra_body": extra} if extra else fields


def _sdk_snippet(body: dict, base_url: str, module: str, client: str) -> str:
    return (
        _python_imports(body, "os")
        + f"from {module} import {client}\n\n"
        + _image_helper(body)
        + f'client = {client}(api_key=os.environ["{KEY_VARIABLE}"], base_url="{base_url}")\n'
        f"response = client.chat.completions.create(\n{_arguments(_split(body, SDK_FIELDS))}\n)\n"
        + PRINT_STREAM
    )


def zai_snippet(body: dict, base_url: str) -> str:
    return _sdk_snippet(body, base_url, "zai", "ZhipuAiClient")


def zhipuai_snippet(body: dict, base_url: str) -> str:
    return _sdk_snippet(body, base_url, "zhipuai", "ZhipuAI")


# What the openai SDK sends as it is; the rest goes in extra_body.
OPENAI_FIELDS = {
    "model", "messages", "stream", "temperature", "top_p", "max_tokens", "seed", "stop",
    "response_format", "tools", "tool_choice", "reasoning_effort",
}  # fmt: skip


def openai_snippet(body: dict, base_url: str) -> str:
    fields = _split(body, OPENAI_FIELDS)
    return (
        _python_imports(body, "os")
        + "from openai import OpenAI\n\n"
        + _image_helper(body)
        + f'client = OpenAI(api_key=os.environ["{KEY_VARIABLE}"], base_url="{base_url}/")\n'
        f"response = client.chat.completions.create(\n{_arguments(fields)}\n)\n" + PRINT_STREAM
    )


def httpx_snippet(body: dict, base_url: str) -> str:
    return (
        _python_imports(body, "json", "os")
        + "import httpx\n\n"
        + _image_helper(body)
        + f"body = {_python_literal(body, 0)}\n"
        f'headers = {{"Authorization": f"Bearer {{os.environ[\'{KEY_VARIABLE}\']}}"}}\n'
        f'with httpx.stream("POST", "{base_url}/chat/completions", json=body, headers=headers, '
        "timeout=300) as r:\n"
        "    r.raise_for_status()\n"
        "    for line in r.iter_lines():\n"
        '        if line.startswith("data: ") and line != "data: [DONE]":\n'
        '            delta = json.loads(line[6:])["choices"][0].get("delta", {})\n'
        '            print(delta.get("content", ""), end="", flush=True)\n'
    )


def curl_snippet(body: dict, base_url: str) -> str:
    note = (
        "# Put the output of `base64 -w0 FILE` where the body says <base64 of FILE>.\n"
        if _has_images(body)
        else ""
    )
    return note + (
        f"curl -N {base_url}/chat/completions \\\n"
        f'  -H "Authorization: Bearer ${KEY_VARIABLE}" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f"  -d @- <<'JSON'\n{body_json(body)}\nJSON\n"
    )


def render_all(body: dict, base_url: str) -> list[tuple[str, str, str]]:
    """(slug, title, code) for each language, calling ``base_url`` (this console's endpoint)."""
    base_url = base_url.rstrip("/")
    return [
        ("zai", "Python (zai-sdk)", zai_snippet(body, base_url)),
        ("zhipuai", "Python (zhipuai)", zhipuai_snippet(body, base_url)),
        ("openai", "Python (openai)", openai_snippet(body, base_url)),
        ("httpx", "Python (httpx)", httpx_snippet(body, base_url)),
        ("curl", "curl", curl_snippet(body, base_url)),
    ]
