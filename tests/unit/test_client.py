"""The client against the fake server: events, usage shapes, every error turned into one line."""

from __future__ import annotations

import json
import socket
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kimi_repl.client import (
    ChatError,
    ContentDelta,
    Finished,
    ModelNotFound,
    MoonshotClient,
    ReasoningDelta,
    StreamEvent,
    parse_chunk,
    sse_data,
)
from kimi_repl.client.ratelimit import RateLimitWait
from kimi_repl.config import Settings
from kimi_repl.request import ChatRequest
from tests.fake import FakeMoonshot, Script, rate_limited

HELLO = [{"role": "user", "content": "hello"}]


def request(model: str = "moonshot-v1-128k", messages: list[dict[str, str]] = HELLO, **kw: object) -> ChatRequest:
    return ChatRequest(model=model, messages=messages, budget=4096, **kw)  # type: ignore[arg-type]


def collect(client: MoonshotClient, model: str = "moonshot-v1-128k", **kw: object) -> list[StreamEvent]:
    return list(client.stream_chat(request(model, HELLO, **kw)))


def text_of(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, ContentDelta))


def test_stream_yields_content_then_finish_with_usage_from_inside_the_choice(
    settings: Settings, server: FakeMoonshot
) -> None:
    server.script(Script(text="你好，世界 **bold**", chunk_chars=2))
    events = collect(MoonshotClient(settings))
    assert text_of(events) == "你好，世界 **bold**"
    last = events[-1]
    assert isinstance(last, Finished) and last.reason == "stop"
    assert last.usage is not None and last.usage["prompt_tokens"] > 0 and last.usage["completion_tokens"] > 0


@pytest.mark.parametrize("style", ["top", "both"])
def test_usage_is_read_from_a_top_level_usage_chunk(settings: Settings, server: FakeMoonshot, style: str) -> None:
    server.script(Script(text="hi", usage_style=style, cached_tokens=3))
    last = collect(MoonshotClient(settings))[-1]
    assert isinstance(last, Finished) and last.usage is not None
    assert last.usage["total_tokens"] == last.usage["prompt_tokens"] + last.usage["completion_tokens"]
    assert last.usage["cached_tokens"] == 3


def test_thinking_model_streams_reasoning_before_content(settings: Settings, server: FakeMoonshot) -> None:
    server.script(Script(reasoning="step by step", text="42"))
    events = collect(MoonshotClient(settings), model="kimi-k2.7-code")
    kinds = [type(e) for e in events]
    assert kinds.index(ReasoningDelta) < kinds.index(ContentDelta)
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "step by step"


def test_the_request_is_sent_as_built(settings: Settings, server: FakeMoonshot) -> None:
    collect(MoonshotClient(settings), model="kimi-k2.6", thinking={"type": "disabled"})
    collect(MoonshotClient(settings), temperature=0.2)
    first, second = server.chat_requests()
    assert first["thinking"] == {"type": "disabled"} and "temperature" not in first
    assert (first["max_completion_tokens"], first["stream"]) == (4096, True) and "max_tokens" not in first
    assert second["temperature"] == 0.2 and "thinking" not in second


def test_a_server_that_refuses_max_completion_tokens_gets_max_tokens_from_then_on(settings: Settings) -> None:
    with FakeMoonshot(lineup="legacy") as legacy:
        client = MoonshotClient(replace(settings, base_url=legacy.base_url))
        assert text_of(collect(client, model="moonshot-v1-8k")) == "Echo 1: hello"
        assert text_of(collect(client, model="moonshot-v1-8k")) == "Echo 1: hello"
        sent = legacy.chat_requests()
    assert ["max_completion_tokens" in body for body in sent] == [True, False, False]
    assert [body.get("max_tokens") for body in sent] == [None, 4096, 4096]


def test_a_bad_request_that_is_not_about_the_budget_is_not_sent_again(settings: Settings, server: FakeMoonshot) -> None:
    with pytest.raises(ChatError, match="only 1 is allowed"):
        collect(MoonshotClient(settings), model="kimi-k2.7-code", temperature=0.3)
    assert len(server.chat_requests()) == 1


def test_cut_stream_finishes_without_a_reason(settings: Settings, server: FakeMoonshot) -> None:
    server.script(Script(text="a long reply that gets cut", cut_after=2, chunk_chars=3))
    events = collect(MoonshotClient(settings))
    assert text_of(events) == "a long"
    assert events[-1] == Finished(None, None)


def test_dropped_connection_mid_stream_is_a_chat_error(settings: Settings, server: FakeMoonshot) -> None:
    server.script(Script(text="a long reply that gets dropped", cut_after=2, abrupt=True))
    received: list[StreamEvent] = []
    with pytest.raises(ChatError, match="connection broke"):
        for event in MoonshotClient(settings).stream_chat(request()):
            received.append(event)
    assert text_of(received)


def error_line(settings: Settings, model: str = "moonshot-v1-128k") -> str:
    with pytest.raises(ChatError) as caught:
        collect(MoonshotClient(settings), model=model)
    line = str(caught.value)
    assert "\n" not in line and settings.api_key not in line
    return line


def test_bad_key_names_the_variable(settings: Settings) -> None:
    line = error_line(replace(settings, api_key="sk-wrong-key"))
    assert "401" in line and "MOONSHOT_API_KEY" in line and "trace id" in line


def test_a_discontinued_model_is_model_not_found(settings: Settings) -> None:
    with pytest.raises(ModelNotFound) as caught:
        collect(MoonshotClient(settings), model="kimi-k2-turbo-preview")
    assert caught.value.model == "kimi-k2-turbo-preview"
    assert "no model 'kimi-k2-turbo-preview' (404" in str(caught.value)


def test_a_wrong_base_url_is_not_blamed_on_the_model(settings: Settings, server: FakeMoonshot) -> None:
    line = error_line(replace(settings, base_url=f"http://127.0.0.1:{server.port}/v2"))
    assert "404" in line and "base URL" in line and "no model" not in line


def test_rate_limit_is_retried_then_succeeds(settings: Settings, server: FakeMoonshot) -> None:
    server.script(Script(status=429, times=2))
    assert text_of(collect(MoonshotClient(settings))) == "Echo 1: hello"
    assert len(server.chat_requests()) == 3


def test_rate_limit_that_persists_is_one_line(settings: Settings, server: FakeMoonshot) -> None:
    server.script(Script(status=429, times=3))
    assert "Rate limited" in error_line(settings)
    assert len(server.chat_requests()) == 3


def test_exhausted_quota_is_not_retried(settings: Settings, server: FakeMoonshot) -> None:
    server.script(Script(status=429, error_type="exceeded_current_quota_error", message="Your quota is used up"))
    assert "balance or quota is used up" in error_line(settings)
    assert len(server.chat_requests()) == 1


def test_server_error_after_retries(settings: Settings, server: FakeMoonshot) -> None:
    server.script(Script(status=500, times=3))
    assert "server error (500)" in error_line(settings)
    assert len(server.chat_requests()) == 3


def test_context_too_long(settings: Settings) -> None:
    long = [{"role": "user", "content": "word " * 40_000}]
    with pytest.raises(ChatError, match="too long for moonshot-v1-8k"):
        list(MoonshotClient(settings).stream_chat(request("moonshot-v1-8k", long)))


def test_content_filter(settings: Settings, server: FakeMoonshot) -> None:
    server.script(Script(status=400, error_type="content_filter", message="considered high risk"))
    assert "content filter" in error_line(settings)


def test_timeout_before_the_reply_starts(settings: Settings, server: FakeMoonshot) -> None:
    server.script(Script(text="late", first_byte_delay=1.5))
    assert "timed out after 0.5 s" in error_line(replace(settings, timeout=0.5, max_retries=0))


def test_timeout_while_streaming(settings: Settings, server: FakeMoonshot) -> None:
    server.script(Script(text="late reply", delay=1.5, chunk_chars=2))
    assert "connection broke" in error_line(replace(settings, timeout=0.5, max_retries=0))


def test_connection_refused(settings: Settings) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    line = error_line(replace(settings, base_url=f"http://127.0.0.1:{port}/v1", max_retries=0))
    assert f"Cannot reach http://127.0.0.1:{port}/v1" in line


def test_models_are_fetched_once(settings: Settings, server: FakeMoonshot) -> None:
    client = MoonshotClient(settings)
    assert "moonshot-v1-8k" in [m["id"] for m in client.list_models()]
    client.list_models()
    assert sum(r.path == "/v1/models" for r in server.requests) == 1


def test_key_is_sent_as_bearer_and_never_in_the_body(settings: Settings, server: FakeMoonshot) -> None:
    collect(MoonshotClient(settings))
    request = server.requests[-1]
    assert request.headers["authorization"] == f"Bearer {settings.api_key}"
    assert settings.api_key not in str(request.body)


def test_an_error_sent_inside_the_stream_is_a_chat_error(settings: Settings, server: FakeMoonshot) -> None:
    server.script(Script(text="partial words here", chunk_chars=4, error_after=2))
    received: list[StreamEvent] = []
    with pytest.raises(ChatError, match="stopped the reply with an error: The engine is currently overloaded"):
        for event in MoonshotClient(settings).stream_chat(request()):
            received.append(event)
    assert text_of(received) == "partial "


def test_server_sent_events_are_read_by_the_spec() -> None:
    stream = b": a comment\ndata: one\n\nevent: message\ndata:two\ndata: lines\n\n\ndata: [DONE]"
    assert list(sse_data([stream])) == [b"one", b"two\nlines", b"[DONE]"]
    crlf = b"data: a\r\n\r\ndata: b\rdata: c\r\r"
    assert list(sse_data([crlf])) == [b"a", b"b\nc"]


@given(st.lists(st.integers(1, 40), max_size=20), st.sampled_from([b"\n", b"\r\n", b"\r"]))
def test_server_sent_events_survive_any_cutting_into_chunks(cuts: list[int], newline: bytes) -> None:
    events = [b'{"n": %d, "text": "\xe4\xbd\xa0"}' % n for n in range(5)]
    stream = b"".join(b"data: " + e + newline + newline for e in events) + b"data: [DONE]" + newline + newline
    chunks, at = [], 0
    for size in cuts:
        chunks.append(stream[at : at + size])
        at += size
    chunks.append(stream[at:])
    assert list(sse_data(chunks)) == [*events, b"[DONE]"]


def test_a_chunk_is_one_json_object_and_nothing_else() -> None:
    assert parse_chunk(b' {"choices": [{"delta": {"content": "\xe4\xbd\xa0"}}]}\r\n') == {
        "choices": [{"delta": {"content": "你"}}]
    }
    for broken in (b'{"a": 1} {"b": 2}', b'{"a": 1', b"[1, 2]", b'"text"', b"\xff{}", b""):
        with pytest.raises(ChatError):
            parse_chunk(broken)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(st.text(), json_values, max_size=4), st.booleans())
def test_a_chunk_reads_as_json_loads_reads_it(chunk: dict[str, object], ascii_only: bool) -> None:
    data = json.dumps(chunk, ensure_ascii=ascii_only).encode()
    assert parse_chunk(data) == json.loads(data)


def test_a_rate_limit_is_waited_out_as_the_server_asks_then_sent_again(
    settings: Settings, server: FakeMoonshot
) -> None:
    server.script(rate_limited(1, times=2))
    waits: list[RateLimitWait] = []
    events = list(MoonshotClient(settings).stream_chat(request(), pause=waits.append))
    assert [w.seconds for w in waits] == [1.0, 1.0] and [w.attempt for w in waits] == [1, 2]
    assert waits[0].limit == "3" and waits[0].retries == settings.max_retries
    assert any(isinstance(event, ContentDelta) for event in events)
    assert len(server.chat_requests()) == 3, "the SDK does not retry it as well"


def test_a_rate_limit_past_the_retries_is_one_sentence(settings: Settings, server: FakeMoonshot) -> None:
    server.script(rate_limited(1, times=5))
    waits: list[RateLimitWait] = []
    with pytest.raises(ChatError, match=r"Rate limited by Moonshot \(429\) after 2 retries"):
        list(MoonshotClient(settings).stream_chat(request(), pause=waits.append))
    assert len(waits) == 2 and len(server.chat_requests()) == 3


def test_a_rate_limit_asking_for_minutes_is_told_not_waited(settings: Settings, server: FakeMoonshot) -> None:
    server.script(rate_limited(600))
    waits: list[RateLimitWait] = []
    with pytest.raises(ChatError, match="It asks to wait 10 min; send again then"):
        list(MoonshotClient(settings).stream_chat(request(), pause=waits.append))
    assert waits == [] and len(server.chat_requests()) == 1
