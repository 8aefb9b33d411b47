import base64
import json
import logging

import pytest

from bigmodel.catalogue import ModelSpec, Range, default_catalogue
from bigmodel.params import (
    STOP_MAX_CHARS,
    build_chat_body,
    image_part,
    strip_data_prefix,
    validate_chat_params,
)

SPEC = ModelSpec(
    name="glm-test",
    kind="chat",
    label="GLM-Test",
    max_output_tokens=4095,
    temperature=Range(0.0, 1.0, 0.95),
    top_p=Range(0.0, 1.0, 0.7),
)
MESSAGES = [{"role": "user", "content": "hi"}]


def body(**kwargs) -> dict:
    return build_chat_body(SPEC, messages=MESSAGES, **kwargs)


# --------------------------------------------------------------------------- sanitising


def test_minimal_body_omits_unset_fields():
    assert body() == {"model": "glm-test", "messages": MESSAGES, "stream": False}


def test_all_fields():
    result = body(
        temperature=0.5,
        top_p=0.6,
        max_tokens=100,
        seed=42,
        do_sample=True,
        stop="END",
        stream=True,
        request_id="req-1",
        user_id="user-123456",
    )
    assert result == {
        "model": "glm-test",
        "messages": MESSAGES,
        "stream": True,
        "temperature": 0.5,
        "top_p": 0.6,
        "max_tokens": 100,
        "seed": 42,
        "do_sample": True,
        "stop": ["END"],
        "request_id": "req-1",
        "user_id": "user-123456",
    }


@pytest.mark.parametrize("temperature", [0, 0.0, -0.5])
def test_temperature_zero_means_greedy(temperature):
    result = body(temperature=temperature)
    assert result["temperature"] == 0.01
    assert result["do_sample"] is False


def test_temperature_zero_overrides_do_sample_true():
    assert body(temperature=0, do_sample=True)["do_sample"] is False


@pytest.mark.parametrize("temperature", [1, 1.0, 1.5])
def test_temperature_one_becomes_099(temperature):
    result = body(temperature=temperature)
    assert result["temperature"] == 0.99
    assert "do_sample" not in result


def test_temperature_inside_range_is_untouched():
    assert body(temperature=0.01)["temperature"] == 0.01
    assert body(temperature=0.99)["temperature"] == 0.99
    assert "do_sample" not in body(temperature=0.3)


def test_do_sample_passes_through():
    assert body(do_sample=False)["do_sample"] is False


@pytest.mark.parametrize(
    "top_p, expected", [(1, 0.99), (1.0, 0.99), (2, 0.99), (0, 0.01), (-1, 0.01), (0.5, 0.5)]
)
def test_top_p_edges(top_p, expected):
    result = body(top_p=top_p)
    assert result["top_p"] == expected
    assert "do_sample" not in result


@pytest.mark.parametrize(
    "stop, expected",
    [
        ("END", ["END"]),
        (["END"], ["END"]),
        ("", None),
        ([], None),
        ([""], None),
        (["", "B"], ["B"]),
    ],
)
def test_stop_is_a_one_element_list(stop, expected):
    assert body(stop=stop).get("stop") == expected


def test_more_than_one_stop_word_keeps_the_first_and_says_so(caplog):
    with caplog.at_level(logging.INFO, logger="bigmodel"):
        assert body(stop=["A", "B", "C"])["stop"] == ["A"]
    assert "kept the first of 3" in caplog.text


@pytest.mark.parametrize(
    "max_tokens, expected", [(0, 1), (-5, 1), (1, 1), (100, 100), (99999, 4095)]
)
def test_max_tokens_clamped_to_the_model(max_tokens, expected):
    assert body(max_tokens=max_tokens)["max_tokens"] == expected


def test_seed_passed_through_as_int():
    assert body(seed=7)["seed"] == 7
    assert body(seed="7")["seed"] == 7
    assert body(seed=0)["seed"] == 0


def test_non_chat_models_are_refused():
    image_spec = ModelSpec(name="cogview-3", kind="image", label="CogView-3")
    with pytest.raises(ValueError):
        build_chat_body(image_spec, messages=MESSAGES)


def test_vision_models_are_chat_models():
    spec = default_catalogue()["glm-4v"]
    assert build_chat_body(spec, messages=MESSAGES)["model"] == "glm-4v"


def test_image_data_prefix_is_stripped_without_touching_the_input():
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,QUJD"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            ],
        }
    ]
    result = build_chat_body(SPEC, messages=messages)
    parts = result["messages"][0]["content"]
    assert parts[1]["image_url"]["url"] == "QUJD"
    assert parts[2]["image_url"]["url"] == "https://example.com/cat.png"
    assert messages[0]["content"][1]["image_url"]["url"] == "data:image/png;base64,QUJD"


# --------------------------------------------------------------------------- images


def test_strip_data_prefix():
    assert strip_data_prefix("data:image/jpeg;base64,/9j/4AAQ") == "/9j/4AAQ"
    assert strip_data_prefix("/9j/4AAQ") == "/9j/4AAQ"
    assert strip_data_prefix("https://example.com/a.png") == "https://example.com/a.png"


def test_image_part_is_bare_base64():
    data = b"\x89PNG\r\n\x1a\nrest"
    part = image_part(data)
    assert part["type"] == "image_url"
    url = part["image_url"]["url"]
    assert not url.startswith("data:")
    assert base64.b64decode(url) == data


# --------------------------------------------------------------------------- validation


def test_valid_params_have_no_problems():
    params = {"temperature": 0, "top_p": 1, "max_tokens": 4095, "seed": 0, "stop": "END"}
    assert validate_chat_params(SPEC, params) == {}
    assert validate_chat_params(SPEC, {}) == {}
    assert validate_chat_params(SPEC, {"temperature": None, "seed": None}) == {}


def test_temperature_out_of_range():
    assert validate_chat_params(SPEC, {"temperature": 1.5}) == {
        "temperature": "temperature must be between 0 and 1 for GLM-Test (got 1.5)."
    }
    assert validate_chat_params(SPEC, {"temperature": -0.1}) == {
        "temperature": "temperature must be between 0 and 1 for GLM-Test (got -0.1)."
    }


def test_top_p_out_of_range():
    assert validate_chat_params(SPEC, {"top_p": 2}) == {
        "top_p": "top_p must be between 0 and 1 for GLM-Test (got 2)."
    }


@pytest.mark.parametrize("value", ["warm", True, float("nan"), [0.5]])
def test_temperature_must_be_a_number(value):
    assert validate_chat_params(SPEC, {"temperature": value}) == {
        "temperature": "temperature must be a number."
    }


def test_numeric_strings_are_accepted():
    assert validate_chat_params(SPEC, {"temperature": "0.5", "max_tokens": "10"}) == {}


def test_max_tokens_problems():
    assert validate_chat_params(SPEC, {"max_tokens": 0}) == {
        "max_tokens": "max_tokens must be at least 1."
    }
    assert validate_chat_params(SPEC, {"max_tokens": 5000}) == {
        "max_tokens": "max_tokens can be at most 4095 for GLM-Test (got 5000)."
    }
    assert validate_chat_params(SPEC, {"max_tokens": 1.5}) == {
        "max_tokens": "max_tokens must be a whole number."
    }


@pytest.mark.parametrize("seed", [-1, 1.5, "abc", True])
def test_seed_problems(seed):
    assert validate_chat_params(SPEC, {"seed": seed}) == {
        "seed": "seed must be a whole number, 0 or more."
    }


def test_stop_problems():
    too_long = "x" * (STOP_MAX_CHARS + 1)
    expected = {"stop": f"stop can be at most {STOP_MAX_CHARS} characters."}
    assert validate_chat_params(SPEC, {"stop": too_long}) == expected
    assert validate_chat_params(SPEC, {"stop": [too_long]}) == expected
    assert validate_chat_params(SPEC, {"stop": "x" * STOP_MAX_CHARS}) == {}
    assert validate_chat_params(SPEC, {"stop": 5}) == {"stop": "stop must be text."}


def test_several_problems_are_all_reported():
    problems = validate_chat_params(SPEC, {"temperature": 3, "top_p": -1, "max_tokens": 0})
    assert set(problems) == {"temperature", "top_p", "max_tokens"}


def test_model_without_a_temperature_range():
    spec = ModelSpec(name="x", kind="chat", label="X", max_output_tokens=10)
    assert validate_chat_params(spec, {"temperature": 0.5}) == {
        "temperature": "X does not take a temperature setting."
    }


def test_catalogue_ranges_are_used():
    spec = default_catalogue()["glm-4-flash"]
    assert validate_chat_params(spec, {"max_tokens": spec.max_output_tokens}) == {}
    assert validate_chat_params(spec, {"max_tokens": spec.max_output_tokens + 1})


@pytest.mark.parametrize(
    ("params", "notes"),
    [
        ({"temperature": 1.0, "top_p": 0.5}, ["temperature 1 is sent as 0.99"]),
        ({"temperature": 0}, ["temperature 0 is sent as 0.01 with do_sample false"]),
        ({"top_p": 1}, ["top_p 1 is sent as 0.99"]),
        ({"temperature": 0.7, "top_p": None}, []),
    ],
)
def test_what_the_sdks_change_is_said_in_words(params, notes):
    from bigmodel.params import sdk_changes

    assert sdk_changes(params) == notes


def test_a_requests_estimate_counts_its_functions_thinking_calls_and_search_pages():
    from bigmodel.tokens import SEARCH_PAGE_TOKENS, estimate_request_tokens, estimate_tokens

    function = {"type": "function", "function": {"name": "f", "description": "d" * 4000}}
    search = {"type": "web_search", "web_search": {"enable": True, "count": 5}}
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}" * 400}}
    messages = [
        {"role": "user", "content": "Hi"},
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": "t" * 8000,
            "tool_calls": [call],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
    ]
    bare = estimate_request_tokens({"messages": messages[:1]})
    body = {"messages": messages, "tools": [function, search]}
    assert estimate_request_tokens(body) >= (
        bare + 2000 + 200 + estimate_tokens(json.dumps([function])) + 5 * SEARCH_PAGE_TOKENS
    )
    no_search = estimate_request_tokens(body, searched=False)
    assert estimate_request_tokens(body) - no_search == 5 * SEARCH_PAGE_TOKENS


def test_a_body_without_max_tokens_asks_for_the_models_default_the_page_shows():
    spec = default_catalogue()["glm-4.7"]
    sent = build_chat_body(spec, messages=[{"role": "user", "content": "Hi"}])
    assert sent["max_tokens"] == spec.default_max_tokens == 4096
