"""The key in the forms markdown decodes or splits, and cut short by a title or a row: never written, never shown."""

from __future__ import annotations

from pathlib import Path

import html5lib
import pytest

from kimi_repl.commands.shared import turn_rows
from kimi_repl.conversation import Conversation, Turn
from kimi_repl.identity import clean_title, title_of
from kimi_repl.redaction import Secret
from kimi_repl.transcript import save

KEY = "sk-ATKfakeKEY0123456789abcdefghijklmnopqrstuvwxyzXYZ"
REST = KEY[1:]
DISGUISES = [
    f"&#115;{REST}",
    f"&#x73;{REST}",
    f"sk&#45;{KEY[3:]}",
    f"[docs](%73{REST})",
    f"<http://x/%73{REST}>",
    f"![x](%73{REST})",
    f'[t](http://a "&#115;{REST}")',
    f"s**{REST}**",
    f"`s`{REST}",
    f"s~~{REST[:3]}~~{REST[3:]}",
]


@pytest.mark.parametrize("suffix", [".html", ".md", ".json"])
def test_no_saved_form_holds_or_shows_the_key(tmp_path: Path, suffix: str) -> None:
    conversation = Conversation(model="kimi-k2.6")
    body = "\n\n".join(DISGUISES) + f"\n\n[a]: %73{REST}\n"
    conversation.turns = [Turn("user", "q"), Turn("assistant", body, reasoning_content=body)]
    path = tmp_path / f"x{suffix}"
    save(conversation, path, overwrite=False, secret=KEY)
    data = path.read_text(encoding="utf-8")
    assert KEY[3:] not in data
    if suffix == ".html":
        shown = "".join(html5lib.parse(data, namespaceHTMLElements=False).itertext())
        assert KEY[3:] not in shown


@pytest.mark.parametrize("disguise", DISGUISES)
def test_the_terminal_shows_no_disguised_key(disguise: str) -> None:
    assert KEY[3:] not in Secret(KEY).redact_shown(disguise)


@pytest.mark.parametrize("prefix", range(20, 70))
def test_a_cut_title_or_row_keeps_no_piece_of_the_key(prefix: int) -> None:
    text = "w" * (prefix - 1) + " " + KEY + " and more"
    for title in (title_of(text), clean_title(text)):
        assert KEY in title or "ATK" not in title  # whole (then redaction finds it) or not at all
        assert Secret(KEY).redact_shown(title).count("ATK") == 0
    (row,) = turn_rows([Turn("assistant", text)], Secret(KEY))
    assert "ATK" not in row[2]


def test_cuts_fall_between_words_and_keep_chinese() -> None:
    assert title_of("word " * 20) == ("word " * 12).rstrip() + "…"
    assert title_of("中文" * 40) == "中文" * 30 + "…"
