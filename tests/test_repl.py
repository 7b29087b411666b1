"""The REPL loop driven through prompt_toolkit's pipe input: keys in, state and displayed lines out."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prompt_toolkit.input import PipeInput, create_pipe_input
from prompt_toolkit.output import DummyOutput

from kimi_repl.commands import build_registry
from kimi_repl.commands.context import CommandContext
from kimi_repl.history import MAX_ENTRY_CHARS, MAX_READ_BYTES, PrivateHistory
from kimi_repl.repl import Repl
from tests.conftest import CapturedDisplay
from tests.fake_server import FakeMoonshot, Script

ENTER = "\r"
ALT_ENTER = "\x1b\r"
CTRL_C = "\x03"
CTRL_D = "\x04"
UP = "\x1b[A"
TAB = "\t"


@pytest.fixture
def keys() -> Iterator[PipeInput]:
    with create_pipe_input() as pipe:
        yield pipe


def run(session: CommandContext, keys: PipeInput, typed: str, **kw: object) -> int:
    """Type ``typed`` into a fresh REPL and run it until it exits (more than a pipe holds is typed from a
    thread, as the REPL reads it)."""
    repl = Repl(session, build_registry(), input=keys, output=DummyOutput(), **kw)  # type: ignore[arg-type]
    if len(typed) < 32_000:
        keys.send_text(typed)
        return repl.run()
    typist = threading.Thread(target=keys.send_text, args=(typed,), daemon=True)
    typist.start()
    status = repl.run()
    typist.join()
    return status


def user_messages(server: FakeMoonshot) -> list[str]:
    return [body["messages"][-1]["content"] for body in server.chat_requests()]


def test_two_turns_carry_the_history_and_exit_returns_zero(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    assert run(session, keys, "hello" + ENTER + "你好吗" + ENTER + "/exit" + ENTER) == 0
    assert "Echo 1: hello" in display.output and "Echo 2: 你好吗" in display.output
    assert [m["role"] for m in server.chat_requests()[-1]["messages"]] == ["user", "assistant", "user"]


def test_ctrl_d_quits_with_status_zero(session: CommandContext, keys: PipeInput) -> None:
    assert run(session, keys, CTRL_D) == 0


def test_alt_enter_inserts_a_newline_and_enter_sends(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot
) -> None:
    run(session, keys, "line one" + ALT_ENTER + "line two" + ENTER + CTRL_D)
    assert user_messages(server) == ["line one\nline two"]


def test_a_multiline_paste_stays_one_message(session: CommandContext, keys: PipeInput, server: FakeMoonshot) -> None:
    paste = "\x1b[200~def f():\n    return 1\n\nprint(f())\x1b[201~"
    run(session, keys, paste + ENTER + CTRL_D)
    assert user_messages(server) == ["def f():\n    return 1\n\nprint(f())"]


def test_ctrl_c_at_the_prompt_clears_the_line(session: CommandContext, keys: PipeInput, server: FakeMoonshot) -> None:
    run(session, keys, "never mind" + CTRL_C + "hello" + ENTER + CTRL_D)
    assert user_messages(server) == ["hello"]


def test_commands_and_unknown_commands_never_reach_the_model(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    typed = "/temperature 5" + ENTER + "/nope" + ENTER + "/model moonshot-v1-8k" + ENTER + "/exit" + ENTER
    assert run(session, keys, typed) == 0
    assert server.chat_requests() == []
    assert "between 0 and 1" in display.output and "Unknown command /nope" in display.output
    assert session.chat.model == "moonshot-v1-8k"


def test_double_slash_sends_text_starting_with_a_slash(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot
) -> None:
    run(session, keys, "//usr/bin is a folder" + ENTER + CTRL_D)
    assert user_messages(server) == ["/usr/bin is a folder"]


def type_when(keys: PipeInput, ready: Callable[[], bool], text: str) -> threading.Thread:
    """Type ``text`` once ``ready()`` holds and the next prompt has had a moment to appear, as a person would."""

    def wait_then_type() -> None:
        deadline = time.monotonic() + 10
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        keys.send_text(text)

    typist = threading.Thread(target=wait_then_type, daemon=True)
    typist.start()
    return typist


def test_a_failed_message_comes_back_with_up(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    server.script(Script(status=401))
    type_when(keys, lambda: len(server.chat_requests()) == 1, UP + ENTER + CTRL_D)
    run(session, keys, "important question" + ENTER)
    assert user_messages(server) == ["important question", "important question"]
    assert "rejected the API key" in display.output and "↑ brings your message back" in display.output
    assert [t.role for t in session.chat.conversation.turns] == ["user", "assistant"]


def test_what_is_typed_after_a_failure_never_merges_with_the_failed_message(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot
) -> None:
    server.script(Script(status=401))
    run(session, keys, "first try" + ENTER + "/model moonshot-v1-8k" + ENTER + "hello" + ENTER + CTRL_D)
    assert session.chat.model == "moonshot-v1-8k"
    assert user_messages(server) == ["first try", "hello"]


def test_a_resumed_message_without_a_reply_is_the_first_up(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot
) -> None:
    session.state.pending_input = "unanswered before the crash"
    type_when(keys, lambda: len(server.chat_requests()) == 1, UP + UP + ENTER + CTRL_D)
    run(session, keys, "something else" + ENTER)
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


def test_history_file_never_stores_a_line_with_the_key(
    session: CommandContext, keys: PipeInput, tmp_path: Path
) -> None:
    path = tmp_path / "history"
    history = PrivateHistory(path, session.settings.api_key)
    typed = "/system my key is " + session.settings.api_key + ENTER + "/model" + ENTER + CTRL_D
    run(session, keys, typed, history=history)
    text = path.read_text()
    assert "/model" in text and session.settings.api_key not in text


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


def test_ctrl_x_ctrl_e_and_edit_bring_the_editors_text_back_to_the_prompt(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    edits = tmp_path / "edits"  # the editor adds a line here each time it has saved
    script = tmp_path / "editor.sh"
    script.write_text(f'#!/bin/sh\nprintf "%s\\nfrom the editor\\n" "$(cat "$1")" > "$1"\necho done >> {edits}\n')
    script.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(script))
    monkeypatch.delenv("VISUAL", raising=False)

    def edited(times: int) -> Callable[[], bool]:
        return lambda: edits.exists() and len(edits.read_text().splitlines()) >= times

    def sent(count: int) -> Callable[[], bool]:
        return lambda: len(server.chat_requests()) >= count

    for ready, typed in ((edited(1), ENTER), (sent(1), "/edit second" + ENTER), (edited(2), ENTER), (sent(2), CTRL_D)):
        typist = type_when(keys, ready, typed)
    run(session, keys, "draft\x18\x05")  # Ctrl-X Ctrl-E
    typist.join()
    assert user_messages(server) == ["draft\nfrom the editor", "second\nfrom the editor"]


def bracketed(text: str) -> str:
    return "\x1b[200~" + text + "\x1b[201~"


def test_a_big_paste_is_asked_about_and_kept_out_of_the_line(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot, tmp_path: Path
) -> None:
    big = "\n".join(f"log line {n} " + "x" * 40 for n in range(4000))  # about 200 KB
    history = PrivateHistory(tmp_path / "history", session.settings.api_key)
    typed = "explain: " + bracketed(big) + "q" + "y" + " thanks" + ENTER  # a key other than y/n waits
    typed += "drop this: " + bracketed(big) + "n" + ENTER + CTRL_D
    run(session, keys, typed, history=history)
    first, second = user_messages(server)
    assert first == "explain: " + big + " thanks"
    assert second == "drop this:"
    stored = (tmp_path / "history").read_text()
    assert "+explain: ⟦paste 1: 214 KB, 4,000 lines⟧ thanks" in stored and len(stored) < 1000


def test_a_paste_that_is_not_big_goes_straight_in(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot
) -> None:
    run(session, keys, bracketed("a\r\nb") + ENTER + CTRL_D)
    assert user_messages(server) == ["a\nb"]


def test_the_history_file_is_bounded_in_what_it_keeps_and_reads(tmp_path: Path) -> None:
    path = tmp_path / "history"
    history = PrivateHistory(path, None)
    history.store_string("small one")
    history.store_string("x" * (MAX_ENTRY_CHARS + 1))
    assert path.read_text().count("+") == 1
    with path.open("ab") as handle:  # an old file that grew without limit
        entry = b"\n# 2026-01-01\n+" + b"y" * 1000 + b"\n"
        handle.write(entry * (3 * MAX_READ_BYTES // len(entry)))
        handle.write(b"\n# 2026-01-02\n+the newest\n")
    strings = list(PrivateHistory(path, None).load_history_strings())
    assert strings[0] == "the newest" and len(strings) < MAX_READ_BYTES // 1000 + 1
    assert path.stat().st_size <= MAX_READ_BYTES  # cut back to its newest entries


def test_a_long_message_given_back_comes_back_behind_a_marker(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot
) -> None:
    long = "z" * 150_000
    server.script(Script(status=500, times=10))
    run(session, keys, bracketed(long) + "y" + ENTER + UP + ENTER + CTRL_D)
    sent = user_messages(server)
    assert sent and all(message == long for message in sent)


@given(
    st.lists(st.sampled_from(["ab", "\x1b[200~", "\x1b[201~", "x\ny", "\x1b", "[20", "1~", "中"]), max_size=12),
    st.lists(st.integers(1, 9), max_size=12),
)
def test_pastes_are_parsed_as_prompt_toolkit_parses_them_however_the_reads_are_cut(
    parts: list[str], cuts: list[int]
) -> None:
    from prompt_toolkit.input.vt100_parser import Vt100Parser

    from kimi_repl.pastes import LinearPasteParser

    data = "".join(parts)
    pieces, at = [], 0
    for size in cuts:
        pieces.append(data[at : at + size])
        at += size
    pieces.append(data[at:])
    theirs: list[object] = []
    ours: list[object] = []
    reference, linear = Vt100Parser(theirs.append), LinearPasteParser(ours.append)
    reference.feed(data)
    reference.flush()
    for piece in pieces:
        linear.feed(piece)
    linear.flush()
    assert [(k.key, k.data) for k in ours] == [(k.key, k.data) for k in theirs]  # type: ignore[attr-defined]
