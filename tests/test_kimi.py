"""Kimi-specific features against the fake server: usage, the overflow guard, thinking, balance, files."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from kimi_repl.commands import CommandError, CommandRegistry, build_registry
from kimi_repl.commands.context import CommandContext
from kimi_repl.config import Settings, sessions_dir
from kimi_repl.conversation import Usage
from kimi_repl.errors import UserError
from kimi_repl.narrator import usage_line
from kimi_repl.planner import local_estimate, short_tokens
from kimi_repl.sessions import SessionStore, load_file
from kimi_repl.transcript import from_json, from_markdown, to_json, to_markdown
from tests.conftest import CapturedDisplay
from tests.fake_server import FakeModel, FakeMoonshot, Script


@pytest.fixture
def registry() -> CommandRegistry:
    return build_registry()


@pytest.fixture
def terminal(settings: Settings) -> tuple[CommandContext, CapturedDisplay]:
    display = CapturedDisplay(terminal=True, width=120)
    return CommandContext.open(settings, display), display


# -- usage -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"prompt_tokens": 19, "completion_tokens": 13, "total_tokens": 32}, Usage(19, 13, 0)),
        ({"prompt_tokens": 19, "completion_tokens": 13, "cached_tokens": 8}, Usage(19, 13, 8)),
        ({"prompt_tokens": 5, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 4}}, Usage(5, 1, 4)),
        ({"prompt_tokens": "x", "completion_tokens": None}, Usage(0, 0, 0)),
        (
            {"prompt_tokens": 9, "completion_tokens": 70, "completion_tokens_details": {"reasoning_tokens": 60}},
            Usage(9, 70, 0, 60),
        ),
        (
            {"prompt_tokens": 9, "completion_tokens": 7, "cached_tokens": 3, "prompt_tokens_details": {"x": 1}},
            Usage(9, 7, 3),
        ),
    ],
)
def test_usage_is_read_in_every_shape(record: dict[str, object], expected: Usage) -> None:
    assert Usage.from_record(record) == expected
    assert Usage.from_record(None) is None


def test_usage_line_shows_tokens_and_how_full_the_window_is() -> None:
    line = usage_line(Usage(12_000, 345, 1_024), 131_072)
    assert line == "↑ 12.0k prompt · ↓ 345 completion · 1.0k cached · 12.3k / 128k context (9%)"
    line = usage_line(Usage(12_000, 1_345, 0, 1_000), 262_144, thinking="thinking on")
    assert line == "↑ 12.0k prompt · ↓ 1.3k completion (1.0k reasoning) · thinking on · 13.3k / 256k context (5%)"
    assert short_tokens(262_144) == "256k" and short_tokens(8_192) == "8k" and short_tokens(999) == "999"


@pytest.mark.parametrize("style", ["choice", "top", "both"])
def test_usage_line_after_each_reply_matches_the_server(
    terminal: tuple[CommandContext, CapturedDisplay], server: FakeMoonshot, style: str
) -> None:
    session, display = terminal
    server.script(Script(text="hi there", usage_style=style, cached_tokens=2))
    turn = session.chat.send("hello")
    assert turn is not None and turn.usage is not None
    usage = turn.usage
    assert usage is not None and usage.cached == 2 and usage.reasoning > 0
    completion = f"↓ {usage.completion} completion ({usage.reasoning} reasoning)"
    assert f"↑ {usage.prompt} prompt · {completion} · 2 cached · thinking on" in display.output
    assert "/ 256k context" in display.output


def test_usage_totals_for_the_session(
    registry: CommandRegistry, session: CommandContext, display: CapturedDisplay
) -> None:
    registry.dispatch(session, "/usage")
    assert "No usage reported yet." in display.output
    first, second = session.chat.send("one"), session.chat.send("two")
    assert first is not None and second is not None and first.usage and second.usage
    registry.dispatch(session, "/usage")
    prompt = first.usage.prompt + second.usage.prompt
    assert re.search(r"replies +2\b", display.output)
    assert re.search(rf"prompt tokens +{prompt:,}\b", display.output)
    assert "of 256k" in display.output


def test_window_comes_from_models_when_the_server_reports_it(session: CommandContext, server: FakeMoonshot) -> None:
    server.models["kimi-custom"] = FakeModel(65_536)
    assert session.chat.window("kimi-custom") == 65_536  # unknown to the table: asked the server
    assert session.chat.window("moonshot-v1-8k") == 8_192
    assert session.chat.window("kimi-k3") == 1_048_576
    assert session.chat.window("no-such-model") is None


# -- the overflow guard ----------------------------------------------------------------------------


def small_window_session(settings: Settings, display: CapturedDisplay) -> CommandContext:
    session = CommandContext.open(replace(settings, model="moonshot-v1-8k"), display)
    session.chat.set_system("You are terse.")
    return session


def test_a_conversation_past_the_window_drops_the_oldest_turns_but_never_the_system_prompt(
    settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session = small_window_session(settings, display)
    for n in range(6):
        server.script(Script(text=f"reply {n} " + "word " * 1500))
        assert session.chat.send(f"question {n}") is not None
    sent = server.chat_requests()[-1]["messages"]
    assert sent[0] == {"role": "system", "content": "You are terse."}
    assert sent[-1] == {"role": "user", "content": "question 5"}
    assert [m["role"] for m in sent[1:]] == ["user", "assistant"] * (len(sent[1:]) // 2) + ["user"]
    assert len(sent) < 12
    assert "oldest turns are not sent with this message" in display.output
    assert session.chat.sent_from > 0 and session.chat.conversation.context_start == 0, (
        "decided per request, not for good"
    )
    assert len(session.chat.conversation.turns) == 12, "dropped turns stay in the conversation"
    assert any(r.path == "/v1/tokenizers/estimate-token-count" for r in server.requests)
    assert all(body["messages"] and local_estimate(body["messages"]) < 8192 for body in server.chat_requests())


def test_the_local_estimate_is_used_when_the_server_cannot_count(
    settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    server.estimate_status = 500
    session = small_window_session(settings, display)
    for n in range(6):
        server.script(Script(text="word " * 1500))
        assert session.chat.send(f"question {n}") is not None
    assert session.chat.sent_from > 0
    assert "Internal server error" not in display.output


def test_a_context_too_long_error_when_the_input_fits_shrinks_the_budget_and_sends_again(
    settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session = small_window_session(settings, display)
    session.chat.send("one")
    server.script(Script(status=400, message="Invalid request: Your request exceeded model token limit: 8192"))
    turn = session.chat.send("two")
    assert turn is not None and turn.content == "Echo 2: two"  # nothing dropped
    first, second = server.chat_requests()[-2:]
    assert second["max_completion_tokens"] < first["max_completion_tokens"]
    assert "refused" not in display.output


def test_a_context_too_long_error_drops_old_turns_and_sends_again(
    settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    server.estimate_status = 500  # the server cannot count: the local estimate is all there is
    session = small_window_session(settings, display)
    session.chat.send("one")
    session.chat.send("two")
    server.script(Script(status=400, message="Invalid request: Your request exceeded model token limit: 8192"))
    turn = session.chat.send("three")
    assert turn is not None and turn.content == "Echo 2: three"  # the retry sent 2 user turns, not 3
    assert "refused the request as too long" in display.output
    assert [m["content"] for m in server.chat_requests()[-1]["messages"]][1:] == ["two", "Echo 2: two", "three"]


def test_a_message_too_long_on_its_own_is_one_line(
    settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session = small_window_session(settings, display)
    assert session.chat.send("word " * 40_000) is None
    assert "too long" in display.output
    assert session.chat.conversation.turns == []


def test_compact_drops_the_oldest_turns_on_demand(
    registry: CommandRegistry, settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session = small_window_session(settings, display)
    registry.dispatch(session, "/compact")
    assert "Nothing to drop" in display.output
    for n in range(4):
        server.script(Script(text="word " * 1000))
        session.chat.send(f"q{n}")
    assert session.chat.conversation.context_start == 0
    registry.dispatch(session, "/compact")
    assert "oldest turns are not sent any more" in display.output
    assert session.chat.conversation.context_start >= 2
    registry.dispatch(session, "/history")
    assert "not sent" in display.output
    session.chat.send("next")
    sent = server.chat_requests()[-1]["messages"]
    assert sent[1]["content"] != "q0"


def test_dropped_turns_survive_a_session_file_and_both_transcripts(
    settings: Settings, server: FakeMoonshot, display: CapturedDisplay, isolated_user: Path
) -> None:
    session = CommandContext.open(
        replace(settings, model="moonshot-v1-8k"), display, store=SessionStore(sessions_dir(), secret=None)
    )
    for n in range(5):
        server.script(Script(text="word " * 1500))
        session.chat.send(f"q{n}")
    conversation = session.chat.conversation
    assert session.chat.sent_from > 0 and session.chat.log is not None
    assert load_file(session.chat.log.path)[0] == conversation and len(conversation.turns) == 10
    assert from_json(to_json(conversation), "t") == conversation
    assert from_markdown(to_markdown(conversation), "t") == conversation


# -- thinking models -------------------------------------------------------------------------------


def thinking_session(settings: Settings, *, show: bool) -> tuple[CommandContext, CapturedDisplay]:
    display = CapturedDisplay(terminal=True, width=120)
    display.show_thinking = show
    return CommandContext.open(replace(settings, model="kimi-k2.6"), display), display


def test_thinking_collapses_to_one_line_when_hidden(settings: Settings, server: FakeMoonshot) -> None:
    session, display = thinking_session(settings, show=False)
    server.script(Script(reasoning="Rayleigh scattering favours short wavelengths.", text="Because of **Rayleigh**."))
    turn = session.chat.send("Why is the sky blue?")
    assert turn is not None and turn.reasoning_content == "Rayleigh scattering favours short wavelengths."
    screen = "\n".join(screen_lines(display.output))
    assert "✻ Thought for" in screen and "/thinking show" in screen
    assert "favours short wavelengths" not in screen
    assert "Because of Rayleigh." in screen


def test_thinking_is_shown_in_full_when_asked(settings: Settings, server: FakeMoonshot) -> None:
    session, display = thinking_session(settings, show=True)
    server.script(Script(reasoning="First, light.\nThen, air.", text="Blue.", chunk_chars=3))
    session.chat.send("Why?")
    screen = screen_lines(display.output)
    assert "✻ Thinking…" in screen and "First, light." in screen and "Then, air." in screen
    assert screen.index("Then, air.") < next(i for i, line in enumerate(screen) if "Thought for" in line)
    assert "Blue." in screen


def test_reasoning_is_kept_but_not_sent_back(settings: Settings, server: FakeMoonshot) -> None:
    session, _ = thinking_session(settings, show=False)
    server.script(Script(reasoning="secret musings", text="42"))
    session.chat.send("q1")
    session.chat.send("q2")
    sent = server.chat_requests()[-1]["messages"]
    assert sent[1] == {"role": "assistant", "content": "42"}
    assert "reasoning_content" not in json.dumps(sent)


def test_thinking_show_and_hide_change_only_the_display(
    registry: CommandRegistry, session: CommandContext, display: CapturedDisplay
) -> None:
    registry.dispatch(session, "/thinking show")
    assert session.display.show_thinking and "shown in full" in display.output
    registry.dispatch(session, "/thinking hide")
    assert not session.display.show_thinking
    assert session.chat.conversation.thinking is None
    with pytest.raises(CommandError, match=r"on or off.*show, hide"):
        registry.dispatch(session, "/thinking loud")


def screen_lines(output: str) -> list[str]:
    from tests.test_render import screen_of

    return [line for line in screen_of(output, width=120, height=200) if line]


# -- balance ---------------------------------------------------------------------------------------


def test_balance(registry: CommandRegistry, session: CommandContext, display: CapturedDisplay) -> None:
    registry.dispatch(session, "/balance")
    assert "Balance: 49.59 CNY available (voucher 46.59, cash 3.00)" in display.output


def test_balance_in_usd_on_the_international_platform() -> None:
    from kimi_repl.commands.account import currency

    assert currency("https://api.moonshot.ai/v1") == "USD"
    assert currency("https://api.moonshot.cn/v1") == "CNY"


def test_balance_used_up_says_where_to_top_up(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    server.balance = {"available_balance": 0, "voucher_balance": 0, "cash_balance": 0}
    registry.dispatch(session, "/balance")
    assert "0.00 CNY available" in display.output and "Top up at https://platform.moonshot.cn" in display.output


def test_balance_error_is_one_line(registry: CommandRegistry, settings: Settings, display: CapturedDisplay) -> None:
    session = CommandContext.open(replace(settings, api_key="sk-wrong"), display)
    with pytest.raises(UserError, match="rejected the API key"):
        registry.dispatch(session, "/balance")


# -- files -----------------------------------------------------------------------------------------


def test_a_small_text_file_is_inlined_and_sent_as_a_system_message(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, tmp_path: Path
) -> None:
    (tmp_path / "notes.md").write_text("# 笔记\n\nThe code is 42.\n")
    session.chat.set_system("Be brief.")
    registry.dispatch(session, f"/file {tmp_path / 'notes.md'}")
    session.chat.send("What is the code?")
    sent = server.chat_requests()[-1]["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sent[1]["role"] == "system" and json.loads(sent[1]["content"])["content"] == "# 笔记\n\nThe code is 42.\n"
    assert sent[2] == {"role": "user", "content": "What is the code?"}
    assert not any(r.path == "/v1/files" for r in server.requests), "plain text needs no upload"


def test_the_same_file_twice_is_refused_and_an_edited_one_is_added(
    registry: CommandRegistry, session: CommandContext, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("The code is 42.\n")
    registry.dispatch(session, f"/file {notes}")
    with pytest.raises(UserError, match=r"notes\.md is attached already, unchanged"):
        registry.dispatch(session, f"/file {notes}")
    notes.write_text("The code is 43.\n")
    registry.dispatch(session, f"/file {notes}")
    contents = [json.loads(d.content)["content"] for d in session.chat.conversation.documents]
    assert contents == ["The code is 42.\n", "The code is 43.\n"]


def test_other_files_are_uploaded_for_extraction_and_the_upload_deleted(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, tmp_path: Path, display: CapturedDisplay
) -> None:
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.4\nRevenue rose 12%.\n\x00\x01")
    registry.dispatch(session, f"/file {tmp_path / 'report.pdf'}")
    assert "Added report.pdf (extracted by Moonshot" in display.output
    upload = next(r for r in server.requests if r.method == "POST" and r.path == "/v1/files")
    assert b'name="purpose"' in upload.body and b"file-extract" in upload.body
    assert server.files == {}, "the upload is deleted once its text is read"
    session.chat.send("What rose?")
    document = json.loads(server.chat_requests()[-1]["messages"][0]["content"])
    assert "Revenue rose 12%." in document["content"] and document["filename"] == "report.pdf"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.txt", None, "does not exist"),
        ("folder", "dir", "is a folder"),
        ("empty.txt", b"", "is empty"),
    ],
)
def test_unusable_files_are_one_line(
    registry: CommandRegistry,
    session: CommandContext,
    tmp_path: Path,
    name: str,
    content: bytes | str | None,
    message: str,
) -> None:
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        registry.dispatch(session, f"/file {path}")
    assert session.chat.conversation.documents == []


def test_a_file_too_big_for_the_window_is_refused(
    registry: CommandRegistry, settings: Settings, display: CapturedDisplay, tmp_path: Path
) -> None:
    session = CommandContext.open(replace(settings, model="moonshot-v1-8k"), display)
    (tmp_path / "long.txt").write_text("word " * 10_000)
    with pytest.raises(UserError, match="too much for moonshot-v1-8k's 8k window"):
        registry.dispatch(session, f"/file {tmp_path / 'long.txt'}")


def test_file_lists_and_clears_documents(
    registry: CommandRegistry, session: CommandContext, display: CapturedDisplay, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("alpha")
    registry.dispatch(session, "/file")
    assert "No documents." in display.output
    registry.dispatch(session, f"/file {tmp_path / 'a.txt'}")
    registry.dispatch(session, "/file")
    assert "a.txt" in display.output
    registry.dispatch(session, "/file clear")
    assert session.chat.conversation.documents == [] and "Removed 1 document." in display.output
