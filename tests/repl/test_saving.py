"""/save and /load through the REPL loop: a hostile reply saved as a page to share and as Markdown, and the
Markdown loaded back to the same conversation."""

from __future__ import annotations

from pathlib import Path

from prompt_toolkit.input import PipeInput

from kimi_repl.commands.context import CommandContext
from kimi_repl.sessions import load_file
from tests.fake import PAGE_ATTACKS, FakeMoonshot
from tests.helpers import CTRL_D, ENTER, CapturedDisplay, run_repl
from tests.pages import problems, shown, visible_text


def test_a_hostile_reply_saved_as_a_page_and_as_markdown_loads_back(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot, display: CapturedDisplay, tmp_path: Path
) -> None:
    page, markdown, lossless = tmp_path / "chat.html", tmp_path / "chat.md", tmp_path / "chat.json"
    typed = ["%page", "最后一个问题", f"/save {page}", f"/save {markdown}", f"/save {lossless}", f"/load {markdown}"]
    assert run_repl(session, keys, "".join(line + ENTER for line in typed) + CTRL_D) == 0
    assert f"Saved 4 turns to {page} (HTML)." in display.output
    assert f"Saved 4 turns to {markdown} (Markdown)." in display.output and f"Loaded {markdown}" in display.output
    saved = page.read_text(encoding="utf-8")
    assert problems(saved) == []
    text = visible_text(saved)
    assert all(shown(attack) in text for attack in PAGE_ATTACKS) and "Echo 2: 最后一个问题" in text
    before, _ = load_file(lossless)  # what was in memory when it was saved
    loaded = session.chat.conversation
    assert loaded.turns == before.turns and len(loaded.turns) == 4
    assert (loaded.in_force, loaded.documents, loaded.context_start) == (before.in_force, [], 0)
    assert loaded.turns[1].reasoning_content.startswith("Thinking </details><script>")
