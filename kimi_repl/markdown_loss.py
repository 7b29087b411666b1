"""Where markdown-it leaves text out, so that whoever shows a reply can show such text as written instead.

Past its nesting limit the parser skips the rest of a block; it drops the cells of a table row past the
header's. Both happen only to text written so (or meant to hide something): a person must still see all of it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from markdown_it.token import Token

NESTED = "nested too deeply to lay out"
EXTRA_CELLS = "a table row with more cells than its header"

LINE_BREAK = re.compile(r"\r\n?|\n")
"""Where the parser ends a line (its token maps count lines so)."""


def row_cells(line: str) -> int:
    """How many cells a table row's line holds, as the parser counts them (at most: a quote's ``>`` is left)."""
    from markdown_it.rules_block.table import escapedSplit

    cells = escapedSplit(line.strip().lstrip(">").strip())
    return len(cells) - (cells[0] == "") - (len(cells) > 1 and cells[-1] == "")


def left_out(tokens: list[Token], text: str, max_nesting: int) -> str:
    """Why the parser left some of ``text`` out of ``tokens`` (:data:`NESTED`, :data:`EXTRA_CELLS`), or ""."""
    columns = 0
    lines: list[str] = []
    for token in tokens:
        if token.type in ("blockquote_open", "list_item_open") and token.level >= max_nesting - 1:
            return NESTED
        if token.type == "th_open":
            columns += 1
        elif token.type == "tr_open" and columns and token.map:
            lines = lines or LINE_BREAK.split(text)
            if row_cells(lines[token.map[0]]) > columns:
                return EXTRA_CELLS
        elif token.type == "table_close":
            columns = 0
    return ""
