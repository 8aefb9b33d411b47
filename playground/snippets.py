""""View code": the current request as Python (zhipuai SDK), Python (httpx) and curl.
The key is always read from the environment; it is never written into a snippet."""

import json

from django.conf import settings

from bigmodel.catalogue import ModelSpec
from bigmodel.params import build_chat_body
from playground.selectors import history_for

DEFAULT_BASE_URL = "https://open.bigmodel.cn/api/paas/v4"


def request_body(*, conversation, spec: ModelSpec, system: str, text: str, params: dict) -> dict:
    """What the next turn would send: the history, system first, then the message being typed."""
    history = history_for(conversation=conversation) if conversation is not None else []
    messages = [m for m in history if m["role"] != "system"]
    if system.strip():
        messages.insert(0, {"role": "system", "content": system})
    messages.append({"role": "user", "content": text or "Hello"})
    return build_chat_body(spec, messages=messages, stream=True, **params)


def _python_literal(value, indent: int) -> str:
    """Like json.dumps(indent=4), in Python's spelling: one message per block, easy to edit."""
    pad, inner = " " * indent, " " * (indent + 4)
    if isinstance(value, dict) and value:
        items = [f"{inner}{key!r}: {_python_literal(item, indent + 4)}," for key, item in value.items()]
        return "{\n" + "\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and value and not all(isinstance(item, str | int | float) for item in value):
        items = [f"{inner}{_python_literal(item, indent + 4)}," for item in value]
        return "[\n" + "\n".join(items) + f"\n{pad}]"
    return repr(value)


def zhipuai_snippet(body: dict, base_url: str) -> str:
    base = "" if base_url == DEFAULT_BASE_URL else f', base_url="{base_url}"'
    args = "\n".join(f"    {key}={_python_literal(value, 4)}," for key, value in body.items())
    return (
        "import os\n\nfrom zhipuai import ZhipuAI\n\n"
        f'client = ZhipuAI(api_key=os.environ["ZHIPUAI_API_KEY"]{base})\n'
        f"response = client.chat.completions.create(\n{args}\n)\n"
        "for chunk in response:\n"
        '    print(chunk.choices[0].delta.content or "", end="", flush=True)\n'
    )


def httpx_snippet(body: dict, base_url: str) -> str:
    return (
        "import json\nimport os\n\nimport httpx\n\n"
        f"body = {_python_literal(body, 0)}\n"
        'headers = {"Authorization": f"Bearer {os.environ[\'ZHIPUAI_API_KEY\']}"}\n'
        f'with httpx.stream("POST", "{base_url}/chat/completions", json=body, headers=headers, timeout=300) as r:\n'
        "    r.raise_for_status()\n"
        "    for line in r.iter_lines():\n"
        '        if line.startswith("data: ") and line != "data: [DONE]":\n'
        '            delta = json.loads(line[6:])["choices"][0].get("delta", {})\n'
        '            print(delta.get("content", ""), end="", flush=True)\n'
    )


def curl_snippet(body: dict, base_url: str) -> str:
    payload = json.dumps(body, ensure_ascii=False, indent=2)
    return (
        f"curl -N {base_url}/chat/completions \\\n"
        '  -H "Authorization: Bearer $ZHIPUAI_API_KEY" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f"  -d @- <<'JSON'\n{payload}\nJSON\n"
    )


def render_all(body: dict) -> list[tuple[str, str, str]]:
    """(slug, title, code) for each language."""
    base_url = settings.ZHIPUAI_BASE_URL.rstrip("/")
    return [
        ("zhipuai", "Python (zhipuai)", zhipuai_snippet(body, base_url)),
        ("httpx", "Python (httpx)", httpx_snippet(body, base_url)),
        ("curl", "curl", curl_snippet(body, base_url)),
    ]
