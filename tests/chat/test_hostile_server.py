"""A hostile or broken server: whatever it sends, the reply so far is kept, the conversation stays consistent
(the next message goes through), the key goes nowhere else, and every failure is one line."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from kimi_repl.client import (
    MAX_EVENT_BYTES,
    MAX_MODELS_BYTES,
    ChatError,
    MoonshotClient,
    StreamIdle,
    StreamTooLong,
    parse_chunk,
    sse_data,
)
from kimi_repl.commands import build_registry
from kimi_repl.commands.context import CommandContext
from kimi_repl.config import Settings
from kimi_repl.sessions import SessionStore
from kimi_repl.values import public_url
from tests.fake import BENCH_END, TEST_KEY, FakeMoonshot, Script, directive_script, hostile_models_body
from tests.helpers import CapturedDisplay


def event(payload: object) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def content(text: str) -> bytes:
    return event({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})


def stream(*events: bytes, done: bool = True) -> bytes:
    return b"".join(events) + (b"data: [DONE]\n\n" if done else b"")


def consistent(session: CommandContext, server: FakeMoonshot) -> None:
    """Turns alternate, and the next message goes through."""
    roles = [turn.role for turn in session.chat.conversation.turns]
    assert roles == ["user", "assistant"] * (len(roles) // 2)
    reply = session.chat.send("and now?")
    assert reply is not None and reply.content.startswith("Echo"), session.display
    assert [turn.role for turn in session.chat.conversation.turns][-2:] == ["user", "assistant"]


def one_error_line(display: CapturedDisplay) -> str:
    errors = [line for line in display.output.splitlines() if line.startswith("✗")]
    assert len(errors) == 1, display.output
    return errors[0]


def test_a_lone_surrogate_is_replaced_and_the_reply_shown_and_kept(
    session: CommandContext, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    raw = b'data: {"choices": [{"index": 0, "delta": {"content": "bad \\ud800 char"}}]}\n\n'
    done = event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    server.script(Script(body=stream(raw, done)))
    reply = session.chat.send("hi")
    assert reply is not None and reply.content == "bad \ufffd char" and not reply.incomplete
    assert "bad \ufffd char" in display.output and not display.gone
    consistent(session, server)


@pytest.mark.parametrize(
    ("chunk", "why"),
    [
        (b'data: {"choices": [null]}\n\n', "choices that are not a list of objects"),
        (b'data: {"choices": "x"}\n\n', "choices that are not a list of objects"),
        (b'data: {"choices": [{"delta": 5}]}\n\n', "a delta that is not an object"),
        (b'data: {"choices": [{"delta": {"tool_calls": {"a": 1}}}]}\n\n', "tool calls that are not a list"),
        (b'data: {"choices": [{"delta": {}, "finish_reason": {"a": 1}}]}\n\n', "finish reason"),
        (b"data: " + b"[" * 100_000 + b"\n\n", "not JSON"),
        (b'data: {"a": ' * 50_000 + b"\n\n", "not JSON"),
    ],
)
def test_a_malformed_chunk_is_one_line_and_the_partial_reply_is_kept(
    session: CommandContext, server: FakeMoonshot, display: CapturedDisplay, chunk: bytes, why: str
) -> None:
    server.script(Script(body=stream(content("the part "), content("so far"), chunk, content("never"))))
    reply = session.chat.send("hi")
    assert reply is not None and reply.content == "the part so far" and reply.incomplete
    assert why in one_error_line(display)
    consistent(session, server)


def test_a_malformed_first_chunk_withdraws_the_message_cleanly(
    session: CommandContext, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    server.script(Script(body=stream(b'data: {"choices": [null]}\n\n')))
    assert session.chat.send("hi") is None
    assert "malformed chunk" in one_error_line(display)
    assert session.chat.conversation.turns == [] and session.state.pending_input == "hi"
    consistent(session, server)


def test_one_endless_line_is_refused_past_the_cap_and_the_partial_kept(
    session: CommandContext, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    endless = b"data: " + b"x" * (9 * 1024 * 1024)
    server.script(Script(body=stream(content("kept "), endless, done=False), piece_bytes=4096))
    reply = session.chat.send("hi")
    assert reply is not None and reply.content == "kept " and reply.incomplete
    assert "a line of more than 8 MB" in one_error_line(display)
    consistent(session, server)


def test_sse_lines_are_joined_once_however_they_are_cut() -> None:
    """A line cut in many pieces is held as pieces and joined when it ends: the result is the same as uncut."""
    line = b"data: " + b"y" * 300_000 + b"\n\n"
    pieces = [line[i : i + 7] for i in range(0, len(line), 7)]
    assert list(sse_data(pieces)) == [b"y" * 300_000]
    with pytest.raises(StreamTooLong):
        list(sse_data(pieces, max_bytes=100_000))
    many = b"".join(b"data: z\n" for _ in range(20_000)) + b"\n"
    with pytest.raises(StreamTooLong):
        list(sse_data([many], max_bytes=10_000))


def test_keep_alive_comments_do_not_keep_a_silent_stream_open(settings: Settings, server: FakeMoonshot) -> None:
    quick = replace(settings, timeout=1.0, max_retries=0)
    session = CommandContext.open(quick, display := CapturedDisplay())
    server.script(Script(body=stream(content("started "), done=False), pings=0.2))
    reply = session.chat.send("hi")
    assert reply is not None and reply.content == "started " and reply.incomplete
    assert "no reply for 1 s, only keep-alive messages" in one_error_line(display)


def test_idle_time_counts_waiting_for_the_network_only() -> None:
    """Time the reader spends (rendering) between events is not the server's silence."""
    now = [0.0]

    def clock() -> float:
        return now[0]

    def chunks() -> object:
        for _ in range(5):
            yield b"data: a\n\n"  # arrives at once, but the reader takes 10 s for each
        for _ in range(3):
            now[0] += 0.5
            yield b": ping\n\n"

    events = sse_data(chunks(), idle_limit=1.0, clock=clock)  # type: ignore[arg-type]
    for _ in range(5):
        next(events)
        now[0] += 10
    with pytest.raises(StreamIdle):
        next(events)


def test_a_web_page_instead_of_a_stream_is_named(
    session: CommandContext, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    server.script(Script(body=b"<html><body>Welcome to nginx!</body></html>", content_type="text/html"))
    assert session.chat.send("hi") is None
    line = one_error_line(display)
    assert "answered with text/html, not a stream of events" in line and "base URL" in line
    consistent(session, server)


def test_a_whole_completion_instead_of_a_stream_is_read(session: CommandContext, server: FakeMoonshot) -> None:
    completion = {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "all at once"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6},
    }
    server.script(Script(body=json.dumps(completion).encode(), content_type="application/json"))
    reply = session.chat.send("hi")
    assert reply is not None and reply.content == "all at once" and reply.finish_reason == "stop"


def test_redirects_are_not_followed_and_say_where_they_pointed(
    settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    with FakeMoonshot(api_key=None) as elsewhere:
        target = f"http://user:pw@127.0.0.1:{elsewhere.port}/v1/chat/completions"
        server.script(Script(status=307, headers={"Location": target}))
        session = CommandContext.open(settings, display)
        assert session.chat.send("my secret plans") is None
        assert elsewhere.requests == []
    line = one_error_line(display)
    assert "307" in line and f"127.0.0.1:{elsewhere.port}" in line and "follows no redirects" in line
    assert "user:pw" not in line


def test_user_and_password_in_the_base_url_are_never_shown(settings: Settings, display: CapturedDisplay) -> None:
    hidden = replace(settings, base_url="http://someone:hunter2hunter2@127.0.0.1:9/v1", max_retries=0)
    session = CommandContext.open(hidden, display)
    assert session.chat.send("hi") is None
    line = one_error_line(display)
    assert "127.0.0.1:9" in line and "hunter2" not in line and "someone" not in line
    assert public_url("https://a:b@example.com:8/v1") == "https://example.com:8/v1"


def test_an_error_in_the_stream_never_shows_the_key(
    settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    oddly = 'sk-odd"key\\with-quotes-and-more'
    odd = replace(settings, api_key=oddly)
    server.api_key = None
    leak = event({"error": {"message": f"bad key {oddly} (or {json.dumps(oddly)})", "type": "server_error"}})
    server.script(Script(body=stream(content("part"), leak)))
    CommandContext.open(odd, display).chat.send("hi")
    assert "bad key" in display.output
    assert "odd" not in display.output and TEST_KEY not in display.output


def test_a_huge_or_hostile_model_list_is_bounded(settings: Settings, server: FakeMoonshot) -> None:
    server.models_body = json.dumps(
        {"data": [{"id": "x" * 5_000_000}, {"id": "bad id"}, {"id": 5}, {"id": "kimi-k2.6", "junk": [[[]]]}]}
    ).encode()
    client = MoonshotClient(settings)
    with pytest.raises(ChatError, match="bigger than 4 MB"):
        client.list_models()
    server.models_body = json.dumps(
        {"data": [{"id": "bad id"}, {"id": 5}, {"id": "kimi-k2.6", "context_length": 262144, "junk": [[[]]]}]}
    ).encode()
    assert MoonshotClient(settings).list_models() == [{"id": "kimi-k2.6", "context_length": 262144}]
    server.models_body = json.dumps({"data": [{"id": f"model-{n}"} for n in range(20_000)]}).encode()
    assert len(MoonshotClient(settings).list_models()) == 1000
    server.models_body = b"[" * 100_000
    with pytest.raises(ChatError, match="not JSON"):
        MoonshotClient(settings).list_models()


def test_a_model_list_that_cannot_be_read_leaves_the_default_model(
    settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    server.models_body = json.dumps({"data": [{"id": "y" * 5_000}]}).encode()
    session = CommandContext.open(settings, display)
    assert session.resolve_model() is None and session.chat.model == "kimi-k2.6"


@hypothesis_settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(1, 50), max_size=10))
def test_the_sse_reader_and_chunk_parser_take_any_bytes(data: bytes, cuts: list[int]) -> None:
    """Random bytes, randomly cut: events come out or a ChatError does; nothing else ever escapes."""
    pieces, at = [], 0
    for size in cuts:
        pieces.append(data[at : at + size])
        at += size
    pieces.append(data[at:])
    try:
        for found in sse_data(pieces, max_bytes=100):
            try:
                chunk = parse_chunk(found)
            except ChatError:
                continue
            assert isinstance(chunk, dict)
            assert "\ud800" not in json.dumps(chunk, ensure_ascii=False, default=str)
    except ChatError:
        pass


def grown_mb(action: object) -> float:
    """How much the process's peak memory grew while ``action`` ran, in MB."""
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    action()  # type: ignore[operator]
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024


def test_an_endless_error_body_is_read_only_as_far_as_its_message(settings: Settings, server: FakeMoonshot) -> None:
    server.get_script = Script(
        status=400, body=b'{"error": {"message": "no"}}' + b" " * (80 << 20), piece_bytes=1 << 16
    )
    client = MoonshotClient(replace(settings, max_retries=0))

    def ask() -> None:
        with pytest.raises(ChatError):
            client.list_models()
        with pytest.raises(ChatError):
            client.balance()

    assert grown_mb(ask) < 40


def test_a_compressed_bomb_in_an_error_is_not_inflated(settings: Settings, server: FakeMoonshot) -> None:
    import gzip

    bomb = gzip.compress(b'{"error": {"message": "boom", "type": "x"}}' + b" " * (300 << 20))
    server.script(Script(status=400, body=bomb, content_type="application/json", headers={"Content-Encoding": "gzip"}))
    session = CommandContext.open(replace(settings, max_retries=0), display := CapturedDisplay())
    assert grown_mb(lambda: session.chat.send("hi")) < 40
    assert "boom" in one_error_line(display)


def test_a_compressed_stream_is_read_a_piece_at_a_time(session: CommandContext, server: FakeMoonshot) -> None:
    import gzip

    done = event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    body = gzip.compress(stream(content("squeezed "), content("and read"), done))
    server.script(Script(body=body, headers={"Content-Encoding": "gzip"}, piece_bytes=7))
    reply = session.chat.send("hi")
    assert reply is not None and reply.content == "squeezed and read" and reply.finish_reason == "stop"


def test_a_huge_count_from_the_server_is_not_believed(
    session: CommandContext, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    huge = int("9" * 400)
    finish = {
        "index": 0,
        "delta": {},
        "finish_reason": "stop",
        "usage": {"prompt_tokens": huge, "completion_tokens": 3},
    }
    server.script(Script(body=stream(content("a precious reply"), event({"choices": [finish]}))))
    reply = session.chat.send("hi")
    assert reply is not None and reply.content == "a precious reply"
    assert session.chat.conversation.turns[-1] is reply and "Internal error" not in display.output


def test_the_attack_directives_send_what_they_claim() -> None:
    """``%attack NAME N`` (the hostile benchmark's inputs, typed by hand too) makes what its docstring says."""

    def text(message: str) -> str:
        script = directive_script(message)
        assert script is not None and script.text is not None and not script.budget_applies
        assert script.text.endswith("\n\n" + BENCH_END + "\n")  # the end marker, in a block of its own
        return script.text

    rows = text("%attack table 2").splitlines()[2:-2]
    assert len(rows) == 50_000 and all(row.startswith("| ") and row.endswith(" |") for row in rows)
    assert text("%attack brackets 3").count("<") == 300 * 1024
    line = text("%attack line 2").split("\n")[0]
    assert len(line.encode()) >= 2 * 1024 * 1024 and "\r" not in line
    assert len(text("%attack lines 1").split("\n\n")[0].splitlines()) == 125_000
    assert text("%attack links 1").count("](https://") == 25_000
    assert "> " * 20_000 + "quoted" in text("%attack nesting 2")
    assert text("%attack code 1").startswith("```python\n") and len(text("%attack code 1")) > 2_500_000

    def raw(message: str) -> bytes:
        script = directive_script(message)
        assert script is not None and script.body is not None and script.piece_bytes == 1024
        return script.body

    def chunks(body: bytes) -> list[Any]:
        """The chunks the client reads of the stream, sent in its pieces."""
        pieces = [body[at : at + 1024] for at in range(0, len(body), 1024)]
        return [parse_chunk(data)["choices"] for data in sse_data(pieces) if data != b"[DONE]"]

    def contents(body: bytes) -> list[str]:
        return [str(choices[0]["delta"].get("content", "")) for choices in chunks(body)]

    for scale in (1, 4, 6):
        rest = raw(f"%attack sseline {scale}").split(b"\n\n", 1)[1]  # after the first, short event
        long_line = rest.split(b"\n", 1)[0]  # no newline before its end
        assert long_line.startswith(b"data: {") and long_line.endswith(b"}") and rest[len(long_line) :][:2] == b"\n\n"
        assert abs(len(long_line) - scale * 1.5 * 1024 * 1024) < 0.02 * scale * 1024 * 1024
        assert (len(long_line) < MAX_EVENT_BYTES) == (scale <= 4)
    assert contents(raw("%attack sseline 1"))[1].endswith("\n\n" + BENCH_END + "\n")
    with pytest.raises(ChatError, match="not JSON"):
        contents(raw("%attack deep 1"))
    assert chunks(raw("%attack null 1"))[1] == [None]  # after some text
    assert "a lone \ufffd surrogate" in "".join(contents(raw("%attack surrogate 1")))
    pings = directive_script("%attack pings")
    assert pings is not None and pings.body == b"" and pings.pings > 0

    assert len(hostile_models_body("long-id")) > 5 * 1024 * 1024 > MAX_MODELS_BYTES
    many = hostile_models_body("many")
    assert len(many) < MAX_MODELS_BYTES and len(json.loads(many)["data"]) == 200_000


def test_empty_events_cannot_keep_a_silent_stream_open(settings: Settings, server: FakeMoonshot) -> None:
    quick = replace(settings, timeout=1.0, max_retries=0)
    session = CommandContext.open(quick, display := CapturedDisplay())
    started = content("started ")
    empty = b"data: {}" + b" " * (len(started) - 10) + b"\n\n"  # as long as the first event: one a piece
    server.script(Script(body=started + empty * 40, piece_bytes=len(started), delay=0.2))
    reply = session.chat.send("hi")
    assert reply is not None and reply.content == "started " and reply.incomplete
    assert "no reply for 1 s, only empty events" in one_error_line(display)


@pytest.mark.parametrize(
    "again",
    [
        {"usage": {"prompt_tokens": 1}},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "usage": {"prompt_tokens": 1}}]},
    ],
    ids=["usage", "finish reason", "both"],
)
def test_the_same_ending_sent_again_and_again_cannot_keep_a_stream_open(
    settings: Settings, server: FakeMoonshot, again: dict[str, Any]
) -> None:
    quick = replace(settings, timeout=1.0, max_retries=0)
    session = CommandContext.open(quick, display := CapturedDisplay())
    ending = event(again)
    server.script(Script(body=content("started ") + ending * 40, piece_bytes=len(ending), delay=0.2))
    reply = session.chat.send("hi")
    assert reply is not None and reply.content == "started " and reply.incomplete
    assert "no reply for 1 s, only empty events" in one_error_line(display)


def test_a_reply_that_never_ends_is_cut_at_a_bound_with_what_arrived_kept(
    settings: Settings, server: FakeMoonshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kimi_repl.client import sse

    monkeypatch.setattr(sse, "MAX_REPLY_CHARS", 50_000)
    session = CommandContext.open(replace(settings, max_retries=0), display := CapturedDisplay())
    thinking = event({"choices": [{"index": 0, "delta": {"reasoning_content": "x" * 10_000}}]})
    server.script(Script(body=content("started ") + thinking * 100, piece_bytes=len(thinking)))
    reply = session.chat.send("hi")
    assert reply is not None and reply.content == "started " and reply.incomplete
    assert "passed 50,000 characters" in one_error_line(display)
    consistent(session, server)


def test_a_finish_reason_that_is_the_key_is_not_saved(
    settings: Settings, server: FakeMoonshot, isolated_user: Path, tmp_path: Path
) -> None:
    key = "sk-attack-0123456789abcdefghij"
    server.api_key = None
    (tmp_path / "sessions").mkdir(mode=0o700)
    store = SessionStore(tmp_path / "sessions", secret=key)
    session = CommandContext.open(replace(settings, api_key=key), CapturedDisplay(), store=store)
    ending = event({"choices": [{"index": 0, "delta": {}, "finish_reason": key}]})
    server.script(Script(body=stream(content("hello "), ending)))
    session.chat.send("hi")
    assert session.chat.log is not None
    saved = session.chat.log.path.read_text()
    assert key not in saved and "[API key removed]" in saved
    registry = build_registry()
    for name in ("t.json", "t.md"):
        registry.dispatch(session, f"/save {tmp_path / name}")
        assert key not in (tmp_path / name).read_text()


@pytest.mark.parametrize("terminal", [False, True], ids=["pipe", "terminal"])
@pytest.mark.parametrize(
    "disguise",
    [
        "sk-attack\u200b-0123456789abcdefghij",
        "sk-attack" + "\u200b" * 40 + "-0123456789abcdefghij",
        "sk-attack\x1b-0123456789\u00adabcdefghij",
        "sk\\-attack\\-0123456789abcdefghij",
        "sk-attack-**0123**456789abcdefghij",
        "`sk-attack`-0123456789abcdefghij",
        "s\u2060k-attack-0123456789_abcdefghij_",
        "".join(f"&#{ord(c)};" for c in "sk-attack-0123456789abcdefghij"),  # character references, decoded
        "sk-at&#8203;tack-0123456789&#x61;bcdefghij",
    ],
)
def test_a_key_disguised_by_what_the_screen_hides_is_not_shown_either(
    settings: Settings, server: FakeMoonshot, terminal: bool, disguise: str
) -> None:
    key = "sk-attack-0123456789abcdefghij"
    server.api_key = None
    display = CapturedDisplay(terminal=terminal)
    session = CommandContext.open(replace(settings, api_key=key), display)
    server.script(Script(text=f"Here it is: {disguise} and more.\n\n> {disguise}\n", chunk_chars=4))
    session.chat.send("what is my key?")
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", display.output)  # the text, without colours
    assert "0123456789abcdefghij" not in re.sub(r"[\x00-\x1f\u200b\u00ad\u2060]", "", shown)
    assert "and more." in shown
    assert "[API key removed]" in shown or ("&#" in disguise and not terminal), "a pipe shows references as written"


@pytest.mark.parametrize("terminal", [False, True])
def test_a_reply_that_echoes_the_key_never_shows_it(settings: Settings, server: FakeMoonshot, terminal: bool) -> None:
    key = "sk-" + "k3y" * 10
    server.api_key = None
    display = CapturedDisplay(terminal=terminal)
    session = CommandContext.open(replace(settings, api_key=key), display)
    text = f"Your key is {key}.\n\n```\nexport MOONSHOT_API_KEY={key}\n```\n\n> thinking of {key}\n"
    server.script(Script(text=text, chunk_chars=5))
    reply = session.chat.send("what is my key?")
    assert reply is not None and reply.content == text  # kept as it came (files are redacted when written)
    assert "k3yk3y" not in display.output and "[API key removed]" in display.output
