"""/resume alone in the REPL loop: the session picker, driven by keys through prompt_toolkit's pipe input."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from prompt_toolkit.input import PipeInput

from kimi_repl.choosing import Choosing
from kimi_repl.commands import CommandError, CommandRegistry
from kimi_repl.commands.context import CommandContext
from kimi_repl.config import Settings, sessions_dir
from kimi_repl.identity import Origin
from kimi_repl.sessionpicker import BRANCHED, OPEN_HERE, SessionPicker, when
from kimi_repl.sessions import SessionLock, SessionStore
from tests.fake import FakeMoonshot
from tests.helpers import CTRL_D, ENTER, UP, CapturedDisplay, run_repl, user_messages
from tests.sessionfiles import write_session

DOWN = "\x1b[B"
ESC = "\x1b"


@pytest.fixture
def saved(settings: Settings, display: CapturedDisplay) -> CommandContext:
    """A REPL's context with a sessions folder."""
    return CommandContext.open(settings, display, store=SessionStore(sessions_dir(), secret=settings.api_key))


def three_sessions(folder: Path) -> list[Path]:
    """Newest first: two about Rust, one about Python."""
    now = time.time()
    return [
        write_session(folder, "20261130-100000-aaaa", ["Rust lifetimes"], modified=now - 60),
        write_session(folder, "20261129-100000-bbbb", ["Python asyncio"], modified=now - 86400 * 2),
        write_session(folder, "20261128-100000-cccc", ["rust and borrowing"], modified=now - 86400 * 3),
    ]


def contents(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in folder.glob("*.jsonl")}


def test_a_word_down_and_enter_resume_that_session(
    saved: CommandContext, keys: PipeInput, display: CapturedDisplay, server: FakeMoonshot
) -> None:
    assert saved.store is not None
    three_sessions(saved.store.folder)
    run_repl(saved, keys, "/resume" + ENTER + "RUST" + DOWN + ENTER + "and more" + ENTER + CTRL_D)
    assert saved.chat.conversation.id == "20261128-100000-cccc"
    assert "Resumed session 20261128-100000-cccc" in display.output
    assert [m["content"] for m in server.chat_requests()[-1]["messages"]][:2] == [
        "rust and borrowing",
        "Echo 1: rust and borrowing",
    ]


def test_escape_leaves_everything_as_it_was(saved: CommandContext, keys: PipeInput, display: CapturedDisplay) -> None:
    assert saved.store is not None
    three_sessions(saved.store.folder)
    before, conversation = contents(saved.store.folder), saved.chat.conversation
    run_repl(saved, keys, "/resume" + ENTER + "python" + DOWN + ESC + CTRL_D)
    assert saved.chat.conversation is conversation and contents(saved.store.folder) == before
    assert "Resumed" not in display.output and "Error" not in display.output


def test_ctrl_d_then_y_deletes_the_highlighted_session(
    saved: CommandContext, keys: PipeInput, display: CapturedDisplay
) -> None:
    assert saved.store is not None
    paths = three_sessions(saved.store.folder)
    run_repl(saved, keys, "/resume" + ENTER + DOWN + CTRL_D + "y" + DOWN + CTRL_D + "n" + ESC + CTRL_D)
    assert [path.exists() for path in paths] == [True, False, True]
    assert "Deleted session 20261129-100000-bbbb." in display.output


def test_the_session_open_here_is_marked_and_never_deleted(
    saved: CommandContext, keys: PipeInput, display: CapturedDisplay
) -> None:
    assert saved.store is not None
    three_sessions(saved.store.folder)
    saved.chat.send("the open one")
    assert saved.chat.log is not None
    here = saved.chat.log.path
    run_repl(saved, keys, "/resume" + ENTER + CTRL_D + ENTER + CTRL_D)
    assert here.exists() and "Deleted" not in display.output
    assert "That is the session open here already." in display.output


def test_without_a_terminal_or_without_sessions_it_is_one_line(
    registry: CommandRegistry, saved: CommandContext, keys: PipeInput, display: CapturedDisplay
) -> None:
    assert saved.store is not None
    run_repl(saved, keys, "/resume" + ENTER + CTRL_D)
    assert "No saved sessions yet." in display.output
    three_sessions(saved.store.folder)
    with pytest.raises(CommandError, match="needs a terminal: give a number in /sessions or an id"):
        registry.dispatch(CommandContext.around(saved.chat, display), "/resume")


def test_when_is_said_as_a_person_would() -> None:
    now = time.mktime((2026, 11, 25, 15, 0, 0, 0, 0, -1))
    assert when(time.mktime((2026, 11, 25, 14, 2, 0, 0, 0, -1)), now) == "14:02"
    assert when(time.mktime((2026, 11, 24, 23, 59, 0, 0, 0, -1)), now) == "yesterday"
    assert when(time.mktime((2026, 11, 3, 9, 0, 0, 0, 0, -1)), now) == "2026-11-03"


def test_rows_mark_the_open_session_and_branches_and_never_show_the_key(
    saved: CommandContext, settings: Settings
) -> None:
    assert saved.store is not None and settings.api_key
    folder = saved.store.folder
    paths = three_sessions(folder)
    write_session(folder, "20261127-100000-dddd", [f"my key is {settings.api_key}"], modified=time.time() - 86400 * 4)
    write_session(
        folder,
        "20261126-100000-eeee",
        ["a branch"],
        origin=Origin("20261128-100000-cccc", 1, "rewind"),
        modified=time.time() - 86400 * 5,
    )
    sessions = SessionPicker(saved.store, current=paths[0], secret=saved.display.secret)
    shown = sessions.picker(time.time())
    state = Choosing(shown.columns, shown.rows, clean=shown.clean)
    marks = [cells[0] for cells in state.cells]
    assert marks == [OPEN_HERE, "", "", "", BRANCHED]
    assert settings.api_key not in repr(state.cells) and "[API key removed]" in state.cells[3][1]
    assert "● open here" in shown.hints
    assert "● open here" not in SessionPicker(saved.store).picker(time.time()).hints


def test_the_deeper_search_finds_words_in_replies_and_stops_when_told(saved: CommandContext) -> None:
    assert saved.store is not None
    three_sessions(saved.store.folder)
    picker = SessionPicker(saved.store)
    # the line shown holds the word no title holds: the one found in the messages
    assert picker._in_messages(["asyncio", "echo"], lambda: False) == [(1, "Echo 1: Python asyncio")]
    assert picker._in_messages(["echo"], lambda: True) == []


def test_rewind_alone_chooses_the_message_from_the_same_list(
    saved: CommandContext, keys: PipeInput, server: FakeMoonshot
) -> None:
    run_repl(saved, keys, "one" + ENTER + "two" + ENTER + "/rewind" + ENTER + UP + ENTER + " edited" + ENTER + CTRL_D)
    assert user_messages(server) == ["one", "two", "one edited"]


def test_a_session_open_in_another_kimi_repl_is_not_deleted_and_the_picker_says_why(
    saved: CommandContext,
) -> None:
    assert saved.store is not None
    paths = three_sessions(saved.store.folder)
    elsewhere = SessionLock(paths[1])  # as another process holds it
    try:
        sessions = SessionPicker(saved.store)
        shown = sessions.picker(time.time())
        state = Choosing(shown.columns, shown.rows, removal=shown.removal, clean=shown.clean)
        state.move(1)
        state.ask()
        assert state.asking is None  # told at once, not asked first
        state.answer(True)
        assert paths[1].exists() and "open in another kimi-repl" in state.message and "close it there" in state.message
        assert len(state.shown) == 3 and sessions.deleted == []
    finally:
        elsewhere.release()
