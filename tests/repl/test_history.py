"""The prompt's history file: bounded, private, never holding the key."""

from __future__ import annotations

from pathlib import Path

from prompt_toolkit.input import PipeInput

from kimi_repl.commands.context import CommandContext
from kimi_repl.history import MAX_ENTRY_CHARS, MAX_READ_BYTES, PrivateHistory
from tests.helpers import CTRL_D, ENTER, run_repl


def test_history_file_never_stores_a_line_with_the_key(
    session: CommandContext, keys: PipeInput, tmp_path: Path
) -> None:
    path = tmp_path / "history"
    history = PrivateHistory(path, session.settings.api_key)
    typed = "/system my key is " + session.settings.api_key + ENTER + "/model" + ENTER + CTRL_D
    run_repl(session, keys, typed, history=history)
    text = path.read_text()
    assert "/model" in text and session.settings.api_key not in text


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
