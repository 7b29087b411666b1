"""End to end, in a pty: a conversation saved as a page to share and as Markdown, and the Markdown loaded back."""

from __future__ import annotations

import base64
from pathlib import Path

from kimi_repl.sessions import load_file
from tests.fake import PAGE_ATTACKS, FakeMoonshot
from tests.helpers import Launch, png_bytes
from tests.pages import elements, problems, shown, title_of, visible_text


def test_a_page_to_share_and_markdown_that_loads_back(launch: Launch, server: FakeMoonshot, tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "cat.png").write_bytes(png_bytes())
    term = launch("-m", "kimi-k2.6", cols=160)
    term.wait_for_prompt(1)
    term.line("/image cat.png")
    term.wait_for_prompt(2)
    term.line("这只猫叫什么？")
    term.wait_for("Echo 1:")
    term.wait_for_prompt(3)
    term.line("%page")
    term.wait_for("Here is a page-breaking reply.")
    term.wait_for_prompt(4)
    for number, line in enumerate(["/save x.html", "/save x.md", "/save x.json"], 5):
        term.line(line)
        term.wait_for(f"Saved 4 turns to {line.split()[1]}")
        term.wait_for_prompt(number)
    page = (work / "x.html").read_text(encoding="utf-8")
    assert problems(page) == []
    text = visible_text(page)
    assert "这只猫叫什么？" in text and title_of(page).startswith("这只猫叫什么？")
    assert all(shown(attack) in text for attack in PAGE_ATTACKS)
    (picture,) = elements(page, "img")
    assert picture.attrib["src"] == "data:image/png;base64," + base64.b64encode(png_bytes()).decode()
    markdown = (work / "x.md").read_text(encoding="utf-8")
    assert "\n## You · " in markdown and "\n## Kimi · kimi-k2.6 · " in markdown and "kimi-repl:turn" not in markdown
    term.line("/load x.md")
    term.wait_for("Loaded x.md")
    term.wait_for_prompt(8)
    term.line("/save loaded.json")
    term.wait_for("Saved 4 turns to loaded.json")
    before, loaded = load_file(work / "x.json")[0], load_file(work / "loaded.json")[0]
    for turn in before.turns:  # a Markdown transcript keeps a picture's name, not its data
        turn.images = [type(image)(image.name, image.mime, "") for image in turn.images]
    assert loaded.turns == before.turns and loaded.in_force == before.in_force
