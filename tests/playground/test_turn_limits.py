"""A turn's max_tokens is held to the model's limit before anything is worked out, and a turn's
hold covers what its prompt can cost, whatever the prompt holds."""

import pytest

from accounts.services.holds import chat_worst_case
from bigmodel.catalogue import default_catalogue
from bigmodel.params import build_chat_body
from playground.forms import TurnForm

pytestmark = pytest.mark.usefixtures("catalogue")


@pytest.mark.parametrize(
    ("max_tokens", "words"),
    [
        (str(10**30), f"max_tokens can be at most 4095 for GLM-4-Plus (got {10**30})."),
        ("0", "max_tokens must be at least 1."),
        ("1.5", "Enter a whole number."),
    ],
)
def test_max_tokens_past_the_models_limit_is_refused_beside_the_field(max_tokens, words):
    form = TurnForm(data={"model": "glm-4-plus", "message": "Hi", "max_tokens": max_tokens})
    assert not form.is_valid()
    assert form.errors["max_tokens"] == [words]


def test_a_turns_hold_counts_its_images_and_history_at_their_worst():
    spec = default_catalogue()["glm-4.6v"]
    history = [
        {"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            {"type": "text", "text": "What is it?"},
        ]},
        {"role": "assistant", "content": "A cat.", "reasoning_content": "Whiskers."},
        {"role": "user", "content": "和它的名字？"},
    ]  # fmt: skip
    body = build_chat_body(spec, messages=history, max_tokens=10)
    case = chat_worst_case(spec, body)
    texts = [
        '{"role": "user", "content": [{"type": "text", "text": "What is it?"}]}',
        '{"role": "assistant", "content": "A cat.", "reasoning_content": "Whiskers."}',
        '{"role": "user", "content": "和它的名字？"}',
    ]
    assert case.prompt_tokens == 64 + sum(16 + len(text.encode()) for text in texts) + 7502
    assert case.completion_tokens == 10


def test_a_prompt_past_the_models_context_is_held_at_the_context():
    spec = default_catalogue()["glm-4v-flash"]  # an 8K context
    body = build_chat_body(spec, messages=[{"role": "user", "content": "x" * 20_000}])
    assert chat_worst_case(spec, body).prompt_tokens == 8192
