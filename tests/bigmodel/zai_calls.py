"""Calls made with the official zai-sdk against the simulator. Run by the zai venv's Python (the
SDK needs a PyJWT that the zhipuai SDK refuses, so it has a venv of its own): prints what came
back as one JSON object.

    .venv-zai/bin/python tests/bigmodel/zai_calls.py BASE_URL KEY AUTH   (AUTH: key or jwt)
"""

import json
import sys

from zai import ZhipuAiClient

base_url, key, auth = sys.argv[1:4]
client = ZhipuAiClient(
    api_key=key, base_url=base_url, max_retries=0, disable_token_cache=auth == "key"
)
messages = [{"role": "user", "content": "Why is the sky blue?"}]

plain = client.chat.completions.create(model="glm-4-flash", messages=messages, seed=3)
thinking, answer, usage = "", "", None
for chunk in client.chat.completions.create(model="glm-4.7", messages=messages, stream=True):
    delta = chunk.choices[0].delta
    thinking += getattr(delta, "reasoning_content", None) or ""
    answer += delta.content or ""
    usage = chunk.usage or usage
off = client.chat.completions.create(
    model="glm-4.7", messages=messages, thinking={"type": "disabled"}
)
as_json = client.chat.completions.create(
    model="glm-4.7",
    messages=messages,
    thinking={"type": "disabled"},
    response_format={"type": "json_object"},
)
history = [*messages, {"role": "assistant", "content": "Rayleigh scattering."},
           {"role": "user", "content": "And sunsets?"}]  # fmt: skip
cached = client.chat.completions.create(
    model="glm-4.7", messages=history, thinking={"type": "disabled"}
)
tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}]  # fmt: skip
asked = [{"role": "user", "content": "Please get_weather for Xi'an"}]
called = client.chat.completions.create(model="glm-4.7", messages=asked, tools=tools)
call = called.choices[0].message.tool_calls[0]
answered = client.chat.completions.create(
    model="glm-4.7",
    messages=[
        *asked,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "Windy"},
    ],
    tools=tools,
    thinking={"type": "disabled"},
)
print(
    json.dumps(
        {
            "plain": plain.choices[0].message.content,
            "plain_completion_tokens": plain.usage.completion_tokens,
            "thinking": thinking,
            "answer": answer,
            "reasoning_tokens": usage.completion_tokens_details.reasoning_tokens,
            "completion_tokens": usage.completion_tokens,
            "off_reasoning": getattr(off.choices[0].message, "reasoning_content", None),
            "json": as_json.choices[0].message.content,
            "cached_tokens": cached.usage.prompt_tokens_details.cached_tokens,
            "called": [call.function.name, call.function.arguments],
            "answered": answered.choices[0].message.content,
        }
    )
)
