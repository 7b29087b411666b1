"""The REPL loop driven through prompt_toolkit's pipe input: keys in, state and displayed lines out."""

from __future__ import annotations

import subprocess
import sys

from prompt_toolkit.input import PipeInput
from prompt_toolkit.output import DummyOutput

from kimi_repl.commands import build_registry
from kimi_repl.commands.context import CommandContext
from kimi_repl.config import Settings
from kimi_repl.repl import Repl
from tests.fake import FakeMoonshot, Script
from tests.helpers import (
    ALT_ENTER,
    CTRL_C,
    CTRL_D,
    ENTER,
    UP,
    CapturedDisplay,
    bracketed,
    run_repl,
    saved_session,
    type_when,
    user_messages,
)


def test_two_turns_carry_the_history_and_exit_returns_zero(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    assert run_repl(session, keys, "hello" + ENTER + "你好吗" + ENTER + "/exit" + ENTER) == 0
    assert "Echo 1: hello" in display.output and "Echo 2: 你好吗" in display.output
    assert [m["role"] for m in server.chat_requests()[-1]["messages"]] == ["user", "assistant", "user"]


def test_ctrl_d_quits_with_status_zero(session: CommandContext, keys: PipeInput) -> None:
    assert run_repl(session, keys, CTRL_D) == 0


def test_alt_enter_inserts_a_newline_and_enter_sends(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot
) -> None:
    run_repl(session, keys, "line one" + ALT_ENTER + "line two" + ENTER + CTRL_D)
    assert user_messages(server) == ["line one\nline two"]


def test_a_multiline_paste_stays_one_message(session: CommandContext, keys: PipeInput, server: FakeMoonshot) -> None:
    paste = "\x1b[200~def f():\n    return 1\n\nprint(f())\x1b[201~"
    run_repl(session, keys, paste + ENTER + CTRL_D)
    assert user_messages(server) == ["def f():\n    return 1\n\nprint(f())"]


def test_ctrl_c_at_the_prompt_clears_the_line(session: CommandContext, keys: PipeInput, server: FakeMoonshot) -> None:
    run_repl(session, keys, "never mind" + CTRL_C + "hello" + ENTER + CTRL_D)
    assert user_messages(server) == ["hello"]


def test_commands_and_unknown_commands_never_reach_the_model(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    typed = "/temperature 5" + ENTER + "/nope" + ENTER + "/model moonshot-v1-8k" + ENTER + "/exit" + ENTER
    assert run_repl(session, keys, typed) == 0
    assert server.chat_requests() == []
    assert "between 0 and 1" in display.output and "Unknown command /nope" in display.output
    assert session.chat.model == "moonshot-v1-8k"


def test_double_slash_sends_text_starting_with_a_slash(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot
) -> None:
    run_repl(session, keys, "//usr/bin is a folder" + ENTER + CTRL_D)
    assert user_messages(server) == ["/usr/bin is a folder"]


def test_a_failed_message_comes_back_with_up(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    server.script(Script(status=401))
    type_when(keys, lambda: len(server.chat_requests()) == 1, UP + ENTER + CTRL_D)
    run_repl(session, keys, "important question" + ENTER)
    assert user_messages(server) == ["important question", "important question"]
    assert "rejected the API key" in display.output and "↑ brings your message back" in display.output
    assert [t.role for t in session.chat.conversation.turns] == ["user", "assistant"]


def test_what_is_typed_after_a_failure_never_merges_with_the_failed_message(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot
) -> None:
    server.script(Script(status=401))
    run_repl(session, keys, "first try" + ENTER + "/model moonshot-v1-8k" + ENTER + "hello" + ENTER + CTRL_D)
    assert session.chat.model == "moonshot-v1-8k"
    assert user_messages(server) == ["first try", "hello"]


def test_a_resumed_message_without_a_reply_is_the_first_up(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot
) -> None:
    session.state.pending_input = "unanswered before the crash"
    type_when(keys, lambda: len(server.chat_requests()) == 1, UP + UP + ENTER + CTRL_D)
    run_repl(session, keys, "something else" + ENTER)
    assert user_messages(server) == ["something else", "unanswered before the crash"]


def test_an_internal_error_is_one_line_and_the_loop_goes_on(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    registry = build_registry()

    @registry.command("boom", "Fail on purpose.")
    def boom(session: CommandContext, argument: str) -> None:
        raise RuntimeError("kaboom")

    keys.send_text("/boom" + ENTER + "still here" + ENTER + CTRL_D)
    assert Repl(session, registry, input=keys, output=DummyOutput()).run() == 0
    assert "Internal error: RuntimeError: kaboom" in display.output
    assert "Traceback" not in display.output
    assert user_messages(server) == ["still here"]


def test_nothing_heavy_is_imported_before_the_prompt() -> None:
    """Everything the REPL needs to show its prompt, imported in a fresh interpreter, leaves the openai SDK out."""
    probe = (
        "import sys\n"
        "from kimi_repl import cli, chat, commands, repl, render, sessions\n"
        "heavy = [m for m in ('openai', 'httpx', 'httpx2', 'pydantic', 'markdown_it') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_a_long_message_given_back_comes_back_behind_a_marker(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot
) -> None:
    long = "z" * 150_000
    server.script(Script(status=500, times=10))
    run_repl(session, keys, bracketed(long) + "y" + ENTER + UP + ENTER + CTRL_D)
    sent = user_messages(server)
    assert sent and all(message == long for message in sent)


def test_rewind_puts_the_message_in_the_input_line_to_edit(
    settings: Settings, display: CapturedDisplay, keys: PipeInput, server: FakeMoonshot
) -> None:
    saved_repl_session = saved_session(settings, display)
    run_repl(saved_repl_session, keys, "one" + ENTER + "two" + ENTER + "/rewind 3" + ENTER + " edited" + ENTER + CTRL_D)
    assert user_messages(server) == ["one", "two", "two edited"]
    assert [t.content for t in saved_repl_session.chat.conversation.turns][::2] == ["one", "two edited"]
