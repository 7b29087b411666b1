"""End to end: going back to an earlier message, editing it and sending it, /fork and /title, in a terminal."""

from __future__ import annotations

from pathlib import Path

from tests.fake import FakeMoonshot
from tests.helpers import Launch, loaded, session_files, user_messages


def test_go_back_three_turns_edit_send_and_find_both_paths(
    launch: Launch, server: FakeMoonshot, isolated_user: Path
) -> None:
    term = launch()
    term.wait_for_prompt(1)
    for number, text in enumerate(("cats", "dogs", "birds"), 1):
        term.line(f"tell me about {text}")
        term.wait_for(f"Echo {number}: tell me about {text}")
    term.line("/history")
    term.wait_for("6  kimi")
    term.line("/rewind 3")
    term.wait_for("Your message is in the input line")
    term.wait_for(lambda screen: screen.rstrip().endswith("tell me about dogs"))
    term.type(" and wolves")
    term.type("\r")
    term.wait_for("Echo 2: tell me about dogs and wolves")
    term.line("/title Wolves 狼")
    term.wait_for("Title: Wolves 狼")
    term.line("/fork")
    term.wait_for("Forked")
    term.line("/sessions")
    term.wait_for("fork of")
    text = term.text()
    assert "Wolves 狼" in text and "at turn 3" in text
    term.line("/exit")
    assert term.exit_status() == 0
    assert "“Wolves 狼” is saved" in term.text().replace("\n", "")
    assert user_messages(server)[-1] == "tell me about dogs and wolves"
    lengths = sorted(len(loaded(path).turns) for path in session_files(isolated_user))
    assert lengths == [4, 4, 6]  # the first session, the path that went back, and its fork
