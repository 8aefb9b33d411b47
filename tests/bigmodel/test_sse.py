import json

import pytest

from bigmodel.errors import InvalidParameter, UnsafeContent, UpstreamFailure, UpstreamUnavailable
from bigmodel.sse import (
    ABNORMAL_FINISH_REASONS,
    ChatStreamDecoder,
    ChatStreamReader,
    LineSplitter,
    ServerSentEvent,
    SSEDecoder,
    StreamChunk,
    Usage,
    is_abnormal_finish,
)

# Pull-style readers over the decoders, for writing the cases below line by line.


def iter_sse_events(lines):
    """Events from lines; yields the ``[DONE]`` event, then stops reading."""
    decoder = SSEDecoder()
    for line in lines:
        event = decoder.feed(line)
        if event is not None:
            yield event
            if event.is_done:
                return
    event = decoder.flush()
    if event is not None:
        yield event


def iter_lines(chunks):
    splitter = LineSplitter()
    for chunk in chunks:
        yield from splitter.feed(chunk)
    yield from splitter.flush()


def iter_chat_chunks(lines):
    reader = ChatStreamReader()
    for event in iter_sse_events(lines):
        chunk = reader.read(event)
        if chunk is not None:
            yield chunk
    reader.finish()


def chunk(content="", *, finish=None, usage=None, reasoning=None, id="20250101000000abc") -> str:
    delta = {"role": "assistant", "content": content}
    if reasoning is not None:
        delta["reasoning_content"] = reasoning
    choice = {"index": 0, "delta": delta}
    if finish:
        choice["finish_reason"] = finish
    data = {"id": id, "created": 1709453054, "model": "glm-4", "choices": [choice]}
    if usage:
        data["usage"] = usage
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


USAGE = {"prompt_tokens": 10, "completion_tokens": 72, "total_tokens": 82}
DONE = "data: [DONE]\n\n"


def lines_of(text: str) -> list[str]:
    return list(iter_lines([text]))


# --------------------------------------------------------------------------- raw SSE


def test_basic_events():
    events = list(iter_sse_events(["data: one", "", "data: two", ""]))
    assert [e.data for e in events] == ["one", "two"]


def test_comments_are_ignored():
    events = list(iter_sse_events([": keep-alive", "data: x", ": another", "", ":", ""]))
    assert events == [ServerSentEvent(data="x")]


def test_multiline_data_joined_with_newlines():
    events = list(iter_sse_events(["data: first", "data: second", "data:third", ""]))
    assert events[0].data == "first\nsecond\nthird"


def test_event_id_and_retry_fields():
    events = list(
        iter_sse_events(["event: error", "id: 7", "retry: 3000", "data: {}", "", "data: next", ""])
    )
    assert events[0] == ServerSentEvent(data="{}", event="error", id="7", retry=3000)
    # The last event id persists; the event type and retry do not.
    assert events[1] == ServerSentEvent(data="next", event=None, id="7", retry=None)


def test_bad_retry_is_ignored():
    assert list(iter_sse_events(["retry: soon", "data: x", ""]))[0].retry is None


def test_only_one_leading_space_is_stripped():
    assert list(iter_sse_events(["data:  two spaces", ""]))[0].data == " two spaces"


def test_field_without_colon():
    # A bare "data" line is a data field with an empty value.
    assert list(iter_sse_events(["data", "data: x", ""]))[0].data == "\nx"


def test_blank_lines_without_fields_dispatch_nothing():
    assert list(iter_sse_events(["", "", "data: x", "", ""])) == [ServerSentEvent(data="x")]


def test_crlf_line_endings():
    text = "data: a\r\n\r\ndata: b\r\n\r\n"
    assert [e.data for e in iter_sse_events(lines_of(text))] == ["a", "b"]


def test_lone_cr_line_endings():
    assert [e.data for e in iter_sse_events(lines_of("data: a\r\rdata: b\r\r"))] == ["a", "b"]


def test_lines_with_their_endings_still_parse():
    assert [e.data for e in iter_sse_events(["data: a\r\n", "\r\n"])] == ["a"]


def test_done_stops_reading():
    consumed = []

    def lines():
        for line in ["data: a", "", "data: [DONE]", "", "data: after", ""]:
            consumed.append(line)
            yield line

    events = list(iter_sse_events(lines()))
    assert [e.data for e in events] == ["a", "[DONE]"]
    assert events[-1].is_done
    assert "data: after" not in consumed


def test_trailing_event_without_blank_line_is_flushed():
    assert [e.data for e in iter_sse_events(["data: a", "", "data: [DONE]"])] == ["a", "[DONE]"]


# --------------------------------------------------------------------------- line splitting


def test_chunk_split_across_reads():
    text = chunk("你好") + chunk("世界", finish="stop", usage=USAGE) + DONE
    raw = text.replace("\n", "\r\n").encode()
    # Every possible split point, including inside "\r\n" and inside multi-byte characters.
    for cut in range(1, len(raw)):
        pieces = [raw[:cut], raw[cut:]]
        chunks = list(iter_chat_chunks(iter_lines(pieces)))
        assert "".join(c.delta for c in chunks) == "你好世界", cut


def test_byte_at_a_time():
    raw = (chunk("héllo ✓") + DONE).encode()
    pieces = [raw[i : i + 1] for i in range(len(raw))]
    assert [c.delta for c in iter_chat_chunks(iter_lines(pieces))] == ["héllo ✓"]


def test_line_splitter_keeps_unicode_line_separators_inside_json():
    splitter = LineSplitter()
    assert splitter.feed('data: {"a": "x\u2028y"}\n') == ['data: {"a": "x\u2028y"}']


def test_line_splitter_holds_cr_until_it_knows():
    splitter = LineSplitter()
    assert splitter.feed("data: a\r") == []
    assert splitter.feed("\ndata: b") == ["data: a"]
    assert splitter.flush() == ["data: b"]


# --------------------------------------------------------------------------- chat streams


def test_chat_stream_happy_path():
    text = chunk("Hel") + chunk("lo") + chunk("", finish="stop", usage=USAGE) + DONE
    chunks = list(iter_chat_chunks(lines_of(text)))
    assert [c.delta for c in chunks] == ["Hel", "lo", ""]
    assert chunks[-1].finish_reason == "stop"
    assert chunks[-1].usage == Usage(prompt_tokens=10, completion_tokens=72, total_tokens=82)
    assert all(c.id == "20250101000000abc" for c in chunks)
    assert chunks[0].usage is None
    assert chunks[0].model == "glm-4"


def test_reasoning_content_is_kept_apart():
    text = chunk(reasoning="thinking…") + chunk("answer", finish="stop") + DONE
    chunks = list(iter_chat_chunks(lines_of(text)))
    assert [(c.reasoning_delta, c.delta) for c in chunks] == [("thinking…", ""), ("", "answer")]


def test_missing_usage_gives_none():
    text = chunk("Hi") + chunk("", finish="stop") + DONE
    chunks = list(iter_chat_chunks(lines_of(text)))
    assert chunks[-1].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)


def test_usage_only_trailing_chunk_is_tolerated():
    usage_only = {"id": "x", "choices": [], "usage": USAGE}
    text = chunk("Hi", finish="stop") + f"data: {json.dumps(usage_only)}\n\n" + DONE
    chunks = list(iter_chat_chunks(lines_of(text)))
    assert chunks[0].finish_reason == "stop"
    assert chunks[-1].usage.total_tokens == 82
    assert chunks[-1].delta == ""


def test_final_chunk_without_delta():
    final = {"id": "x", "choices": [{"index": 0, "finish_reason": "stop"}]}
    text = chunk("Hi") + f"data: {json.dumps(final)}\n\n" + DONE
    assert list(iter_chat_chunks(lines_of(text)))[-1].finish_reason == "stop"


def test_null_content_becomes_empty_string():
    data = {"id": "x", "choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}]}
    text = f"data: {json.dumps(data)}\n\n" + chunk("a", finish="stop") + DONE
    assert [c.delta for c in iter_chat_chunks(lines_of(text))] == ["", "a"]


@pytest.mark.parametrize("reason", ["length", "sensitive", "network_error"])
def test_abnormal_finish_reasons_surface_as_is(reason):
    text = chunk("partial") + chunk("", finish=reason, usage=USAGE) + DONE
    last = list(iter_chat_chunks(lines_of(text)))[-1]
    assert last.finish_reason == reason
    assert last.is_abnormal
    assert is_abnormal_finish(reason)


@pytest.mark.parametrize("reason", ["stop", "tool_calls", None])
def test_normal_finish_reasons(reason):
    assert not is_abnormal_finish(reason)
    assert not StreamChunk(finish_reason=reason).is_abnormal


def test_abnormal_set():
    assert ABNORMAL_FINISH_REASONS == {"length", "sensitive", "network_error"}


def test_mid_stream_error_raises_mapped_error_with_partial_text():
    error = {"error": {"code": "1214", "message": "messages 参数非法"}}
    text = chunk("Hel") + chunk("lo") + f"data: {json.dumps(error)}\n\n"
    received = []
    with pytest.raises(InvalidParameter) as caught:
        for c in iter_chat_chunks(lines_of(text)):
            received.append(c.delta)
    assert received == ["Hel", "lo"]
    assert caught.value.code == "1214"
    assert caught.value.partial_text == "Hello"
    assert caught.value.http_status is None


def test_mid_stream_error_with_numeric_code_and_content_filter():
    error = {"contentFilter": [{"level": 1, "role": "assistant"}], "error": {"code": 1301}}
    text = chunk("a") + f"data: {json.dumps(error)}\n\n"
    with pytest.raises(UnsafeContent) as caught:
        list(iter_chat_chunks(lines_of(text)))
    assert caught.value.content_filter == [{"level": 1, "role": "assistant"}]


def test_error_event_type_with_plain_text():
    text = chunk("a") + "event: error\ndata: something broke\n\n"
    with pytest.raises(Exception) as caught:
        list(iter_chat_chunks(lines_of(text)))
    assert caught.value.upstream_message == "something broke"


def test_mid_stream_error_is_scrubbed():
    secret_key = "test-key-id.test-secret-value"
    error = {"error": {"code": "1002", "message": f"bad token for {secret_key}"}}
    decoder = ChatStreamDecoder(secrets=(secret_key, "test-secret-value"))
    with pytest.raises(Exception) as caught:
        list(decoder.feed(f"data: {json.dumps(error)}\n\n"))
    assert "test-secret-value" not in caught.value.upstream_message


def test_no_done_and_no_finish_reason_is_an_early_end():
    text = chunk("Hel") + chunk("lo")
    with pytest.raises(UpstreamUnavailable) as caught:
        list(iter_chat_chunks(lines_of(text)))
    assert caught.value.partial_text == "Hello"
    assert "stream ended early" in str(caught.value)


def test_empty_stream_is_an_early_end():
    with pytest.raises(UpstreamUnavailable) as caught:
        list(iter_chat_chunks([]))
    assert caught.value.partial_text == ""


def test_finish_reason_without_done_is_accepted():
    text = chunk("Hi") + chunk("", finish="stop")
    assert list(iter_chat_chunks(lines_of(text)))[-1].finish_reason == "stop"


def test_done_without_finish_reason_is_accepted():
    assert [c.delta for c in iter_chat_chunks(lines_of(chunk("Hi") + DONE))] == ["Hi"]


def test_chunks_after_done_are_ignored():
    text = chunk("Hi", finish="stop") + DONE + chunk("ghost")
    assert [c.delta for c in iter_chat_chunks(lines_of(text))] == ["Hi"]


def test_malformed_json_chunk():
    with pytest.raises(UpstreamFailure) as caught:
        list(iter_chat_chunks(lines_of(chunk("ok") + "data: {not json\n\n")))
    assert caught.value.partial_text == "ok"


def test_unknown_event_types_are_skipped():
    text = "event: ping\ndata: {}\n\n" + chunk("a", finish="stop") + DONE
    assert [c.delta for c in iter_chat_chunks(lines_of(text))] == ["a"]


# --------------------------------------------------------------------------- push decoder


def test_decoder_accumulates_the_reply():
    decoder = ChatStreamDecoder()
    raw = (chunk("Hel", reasoning="r1") + chunk("lo", finish="length", usage=USAGE) + DONE).encode()
    got = [c.delta for piece in (raw[:30], raw[30:90], raw[90:]) for c in decoder.feed(piece)]
    assert got == ["Hel", "lo"]
    assert decoder.done
    assert list(decoder.finish()) == []
    reader = decoder.reader
    assert (reader.text, reader.reasoning_text, reader.finish_reason) == ("Hello", "r1", "length")
    assert reader.usage.total_tokens == 82


def test_decoder_ignores_input_after_done():
    decoder = ChatStreamDecoder()
    assert [c.delta for c in decoder.feed(chunk("a") + DONE + chunk("b"))] == ["a"]
    assert list(decoder.feed(chunk("c"))) == []


def test_decoder_finish_flushes_a_last_event_without_blank_line():
    decoder = ChatStreamDecoder()
    list(decoder.feed(chunk("a")))
    last = chunk("", finish="stop").rstrip("\n")
    assert list(decoder.feed(last)) == []
    assert [c.finish_reason for c in decoder.finish()] == ["stop"]


def test_decoder_finish_raises_on_early_end():
    decoder = ChatStreamDecoder()
    list(decoder.feed(chunk("Hel")))
    with pytest.raises(UpstreamUnavailable) as caught:
        list(decoder.finish())
    assert caught.value.partial_text == "Hel"


def test_usage_from_dict():
    assert Usage.from_dict(None) is None
    assert Usage.from_dict("nope") is None
    assert Usage.from_dict({"prompt_tokens": 3, "completion_tokens": 4}) == Usage(3, 4, 7)


def test_usage_keeps_cache_hits_and_thinking_as_parts_of_their_wholes():
    from bigmodel.sse import Usage

    usage = Usage.from_dict(
        {
            "prompt_tokens": 1200,
            "prompt_tokens_details": {"cached_tokens": 1000},
            "completion_tokens": 500,
            "completion_tokens_details": {"reasoning_tokens": 350},
            "total_tokens": 1700,
        }
    )
    assert usage is not None
    assert (usage.prompt_tokens, usage.cached_tokens) == (1200, 1000)
    assert (usage.completion_tokens, usage.reasoning_tokens) == (500, 350)
    # Absent details are none; a part claimed larger than its whole is cut to the whole.
    bare = Usage.from_dict({"prompt_tokens": 10, "completion_tokens": 2})
    assert bare is not None and (bare.cached_tokens, bare.reasoning_tokens) == (0, 0)
    odd = Usage.from_dict({"prompt_tokens": 10, "prompt_tokens_details": {"cached_tokens": 99}})
    assert odd is not None and odd.cached_tokens == 10
