"""The session picker end to end: the installed kimi-repl in a pseudo-terminal, ``-r`` without an id and
``/resume`` alone, read through pyte."""

from __future__ import annotations

import re
import time
from pathlib import Path

from prompt_toolkit.utils import get_cwidth

from tests.fake import FakeMoonshot
from tests.helpers import Launch, one_shot
from tests.sessionfiles import sessions_folder, write_many, write_session

DOWN = "\x1b[B"
ESC = "\x1b"
LEAVE_ALTERNATE_SCREEN = b"\x1b[?1049l"
WHEN = re.compile(r"  (\d\d:\d\d|yesterday|\d{4}-\d\d-\d\d)  ")


def a_few(home: Path) -> None:
    folder = sessions_folder(home)
    now = time.time()
    write_session(folder, "20261130-100000-aaaa", ["Tell me about kernels"], modified=now - 60)
    write_session(folder, "20261129-100000-bbbb", ["排序算法有哪些？"], title="中文标题：排序", modified=now - 86400)
    write_session(folder, "20261128-100000-cccc", ["Kernel modules, part two", "and then?"], modified=now - 86400 * 9)
    hostile = "\x1b]0;pwned\x07\x1b[2J evil \u202etitle " + "x" * 10_000
    write_session(folder, "20261127-100000-dddd", [hostile], modified=now - 86400 * 10)


def test_r_alone_filters_by_a_word_and_enter_resumes(launch: Launch, isolated_user: Path) -> None:
    a_few(isolated_user)
    term = launch("-r", rows=30, cols=100)
    term.wait_for(lambda text: all(s in text for s in ("Resume a session", "中文标题：排序", "Kernel modules", "Esc")))
    term.settle()
    assert "yesterday" in term.text() and "Tell me about kernels" in term.text()
    heading = next(line for line in term.lines() if "When" in line)
    dates = [found for line in term.lines() if (found := WHEN.search(line))]
    starts = {get_cwidth(found.string[: found.start(1)]) for found in dates}
    assert len(dates) == 4 and starts == {get_cwidth(heading[: heading.index("When")])}  # the 中文 row's too
    term.type("KERNEL")
    assert "⟨U+001B⟩]0;pwned⟨U+0007⟩⟨U+001B⟩[2J evil ⟨U+202E⟩title…" in term.text() and term.screen.title != "pwned"
    term.wait_for("2 of 4")
    term.type(DOWN)
    term.settle()
    term.type("\r")
    term.wait_for("Resumed session 20261128-100000-cccc")
    term.wait_for("Echo 2: and then?")
    term.wait_for_prompt(1)
    term.line("/exit")
    assert term.exit_status() == 0
    assert LEAVE_ALTERNATE_SCREEN in term.raw


def test_resume_alone_in_the_repl_then_escape_and_ctrl_c_change_nothing(launch: Launch, isolated_user: Path) -> None:
    a_few(isolated_user)
    before = {path.name: path.read_bytes() for path in sessions_folder(isolated_user).glob("*.jsonl")}
    term = launch(rows=30, cols=100)
    term.wait_for_prompt(1)
    term.line("/resume")
    term.wait_for("Resume a session")
    term.type("排序")
    term.wait_for("1 of 4")
    term.type(ESC)
    term.wait_for_prompt(2)
    term.line("/resume")
    term.wait_for(lambda text: text.count("Resume a session") >= 2)
    term.settle()
    term.child.setwinsize(20, 60)  # a resize while it shows: drawn again to the new size
    term.screen.resize(20, 60)
    term.settle()
    assert any(line.startswith(" Resume a session") for line in term.lines()[-20:])
    term.ctrl("c")
    term.wait_for_prompt(3)
    term.line("/exit")
    assert term.exit_status() == 0
    assert {path.name: path.read_bytes() for path in sessions_folder(isolated_user).glob("*.jsonl")} == before
    assert term.raw.count(LEAVE_ALTERNATE_SCREEN) >= 2 and "Resumed session" not in term.text()


def test_r_alone_with_two_thousand_sessions_shows_the_picker(launch: Launch, isolated_user: Path) -> None:
    write_many(sessions_folder(isolated_user), 2000, answer_chars=200)
    term = launch("-r", rows=30, cols=100)
    term.wait_for("2,000", timeout=30)
    term.type("项目 1999")  # nowhere: the titles say 的问题, not 项目
    term.type("\x7f" * 7 + "1999")
    term.wait_for(lambda text: "1 of 2,000" in text and "project 1999" in text)
    term.type(ESC)
    assert term.exit_status() == 0


def test_r_alone_without_a_terminal_or_without_sessions_says_what_to_do(
    launch: Launch, isolated_user: Path, server: FakeMoonshot
) -> None:
    result = one_shot(isolated_user, server, "-r")
    error = result.stderr.decode()
    assert result.returncode == 2 and error.count("\n") == 1
    assert "-r without an id shows a list to pick from, which needs a terminal" in error
    assert "kimi-repl --sessions lists them" in error
    term = launch("-r")
    assert term.exit_status() == 2
    assert "there are no saved sessions to resume yet" in term.text()
