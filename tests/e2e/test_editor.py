"""End to end, in a pty: Ctrl-X Ctrl-E opens the editor."""

from __future__ import annotations

from pathlib import Path

from tests.fake import FakeMoonshot
from tests.helpers import Launch


def test_ctrl_x_ctrl_e_opens_the_editor_and_the_text_comes_back(
    launch: Launch, server: FakeMoonshot, tmp_path: Path
) -> None:
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\nprintf "%s\\nwritten in the editor\\n" "$(cat "$1")" > "$1"\n')
    editor.chmod(0o755)
    term = launch(EDITOR=str(editor))
    term.wait_for_prompt(1)
    term.type("draft")
    term.type("\x18\x05")  # Ctrl-X Ctrl-E
    term.wait_for("written in the editor")
    assert server.chat_requests() == []  # back at the prompt, not sent
    term.line("")
    term.wait_for("Echo 1: draft")
    assert server.chat_requests()[-1]["messages"][-1]["content"] == "draft\nwritten in the editor"
