"""The external editor: $VISUAL or $EDITOR, its text back at the prompt."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from prompt_toolkit.input import PipeInput

from kimi_repl.commands.context import CommandContext
from kimi_repl.editor import EditorError, edit
from tests.fake import FakeMoonshot
from tests.helpers import CTRL_D, ENTER, run_repl, type_when, user_messages


def editor_script(tmp_path: Path, body: str) -> str:
    script = tmp_path / "editor.sh"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_the_editor_returns_what_was_saved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDITOR", editor_script(tmp_path, 'printf "%s\\nadded\\n" "$(cat "$1")" > "$1"'))
    monkeypatch.delenv("VISUAL", raising=False)
    assert edit("draft 中文") == "draft 中文\nadded"


def test_visual_wins_and_a_failing_editor_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDITOR", editor_script(tmp_path, 'echo from-editor > "$1"'))
    monkeypatch.setenv("VISUAL", "false")
    with pytest.raises(EditorError, match="ended with status 1"):
        edit("keep me")
    monkeypatch.setenv("VISUAL", "/no/such/editor --wait")
    with pytest.raises(EditorError, match="cannot start the editor"):
        edit("keep me")
    monkeypatch.setenv("VISUAL", "'unclosed")
    with pytest.raises(EditorError, match="not a command line"):
        edit("keep me")


def test_without_any_editor_it_says_how_to_set_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.delenv("EDITOR", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(EditorError, match=r"set \$EDITOR"):
        edit("x")


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
    run_repl(session, keys, "draft\x18\x05")  # Ctrl-X Ctrl-E
    typist.join()
    assert user_messages(server) == ["draft\nfrom the editor", "second\nfrom the editor"]
