"""What a picker on screen is at any moment: the filter and the rows it lets through, the highlighted row, the
window of rows drawn, a question asked or a line said. Pure state: :mod:`kimi_repl.picker` shows it and turns keys
into calls.

Cheap with thousands of rows: the texts a filter looks at are folded once, a keystroke that narrows the filter
looks only at the rows it let through, and only the rows on screen are drawn. Every cell goes through ``clean``
(one line, nothing that controls the terminal) before it is measured or drawn; widths are the terminal's (中文
takes two columns).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.utils import get_cwidth

from kimi_repl.errors import UserError
from kimi_repl.sanitize import one_line
from kimi_repl.sessions.folder import needles_of

MAX_CELL_CHARS = 500
"""What is kept of a cell before it is cleaned: more never fits on a line."""
GAP = "  "
MIN_FLEXIBLE_WIDTH = 20
"""The flexible column (a title) keeps at least this many terminal columns while others can be left out."""


class Column(NamedTuple):
    """A column: its heading, the most terminal columns it takes (0: what the others leave; one column should
    be so), and whether its cells are right-aligned."""

    heading: str
    width: int = 0
    right: bool = False


class Row(NamedTuple):
    """One row: a cell per column, and the texts typing filters it by."""

    cells: Sequence[str]
    labels: Sequence[str]


Hits = list[tuple[int, str]]
"""Rows a deeper search found (their index), each with a line saying where."""
DeepSearch = Callable[[list[str], Callable[[], bool]], Hits]
"""Given the words typed and a test that says the search is no longer wanted, the rows that mention them all."""


class Removal(NamedTuple):
    """What Ctrl-D does to a row: ``question`` is what to ask first, ``remove`` removes it and says so; either
    raises :class:`~kimi_repl.errors.UserError` to say in one line why not."""

    question: Callable[[int], str]
    remove: Callable[[int], str]


def fit(text: str, width: int, *, right: bool = False) -> str:
    """``text`` in exactly ``width`` terminal columns: cut with "…" when wider, padded with spaces when narrower."""
    if width <= 0:
        return ""
    used = get_cwidth(text)
    if used > width:
        text, used = _cut(text, width - 1)
        text, used = text + "…", used + 1
    padding = " " * (width - used)
    return padding + text if right else text + padding


def _cut(text: str, width: int) -> tuple[str, int]:
    """The longest start of ``text`` at most ``width`` columns wide, and its width."""
    used = 0
    for index, character in enumerate(text):
        size = get_cwidth(character)
        if used + size > width:
            return text[:index], used
        used += size
    return text, used


class Choosing:
    """The state of a picker on screen: the filter and the rows it lets through, the highlighted one, the
    window of rows drawn, a question asked or a line said.

    Args:
        removal: what Ctrl-D does (None: nothing).
        found: what marks a row the deeper search found.
        clean: what makes a cell fit to show (one line, nothing that controls the terminal).
        start: the row highlighted first.
    """

    def __init__(
        self,
        columns: Sequence[Column],
        rows: Sequence[Row],
        *,
        removal: Removal | None = None,
        found: str = "found deeper",
        clean: Callable[[str], str] = one_line,
        start: int = 0,
    ) -> None:
        self.columns, self.removal, self.found, self.clean = columns, removal, found, clean
        self.cells = [[clean(cell[:MAX_CELL_CHARS]) for cell in row.cells] for row in rows]
        # Folded once: a word (no white space in it) is in the joined texts exactly when it is in one of them.
        self._folded = ["\n".join(row.labels).casefold() for row in rows]
        self.widths = [
            min(column.width, max([get_cwidth(column.heading)] + [get_cwidth(row[at]) for row in self.cells]))
            if column.width
            else 0
            for at, column in enumerate(columns)
        ]
        self.gone: set[int] = set()
        self.needles: list[str] = []
        self.quick: list[int] = list(range(len(self.cells)))
        self.deep: dict[int, str] = {}
        self.shown: list[int] = self.quick
        self.at = 0
        self.top = 0
        self.page = 1
        self.asking: str | None = None
        self.message = ""
        self.searching = False
        self._asked: int | None = None
        self.move_to(start)

    # -- filtering ----------------------------------------------------------------------------
    def filter(self, query: str) -> bool:
        """Show the rows that mention every word of ``query``, the first highlighted; whether the words changed."""
        needles = needles_of(query.split())
        if needles == self.needles:
            return False
        narrower = all(any(old in new for new in needles) for old in self.needles)
        pool = self.quick if narrower else range(len(self._folded))
        folded, gone = self._folded, self.gone
        self.quick = [i for i in pool if all(needle in folded[i] for needle in needles) and i not in gone]
        self.needles, self.deep = needles, {}
        self._show(keep=None)
        return True

    def add_found(self, hits: Hits) -> None:
        """Add the rows a deeper search found for the words typed now (the highlighted row stays)."""
        keep, quick = self.current(), set(self.quick)
        count = len(self.cells)
        self.deep = {i: note for i, note in hits if 0 <= i < count and i not in quick and i not in self.gone}
        self._show(keep=keep)

    def _show(self, keep: int | None) -> None:
        if self.deep:
            quick = set(self.quick)
            self.shown = [i for i in range(len(self.cells)) if i in quick or i in self.deep]
        else:
            self.shown = self.quick
        where = {index: position for position, index in enumerate(self.shown)} if keep is not None else {}
        self.at = where.get(keep, 0) if keep is not None else 0

    # -- moving -------------------------------------------------------------------------------
    def current(self) -> int | None:
        """The highlighted row's index, or None when no row is shown."""
        return self.shown[self.at] if self.shown else None

    def move(self, by: int) -> None:
        self.at = max(0, min(len(self.shown) - 1, self.at + by))

    def move_to(self, position: int) -> None:
        self.at = max(0, min(len(self.shown) - 1, position))

    # -- removing -----------------------------------------------------------------------------
    def ask(self) -> None:
        """Ctrl-D: ask whether to remove the highlighted row (or say why it cannot be)."""
        index, removal = self.current(), self.removal
        if index is None or removal is None:
            return
        try:
            self.asking = self.clean(removal.question(index))
            self._asked = index
        except UserError as error:
            self.message = self.clean(str(error))

    def answer(self, yes: bool) -> None:
        """The answer to the question asked: remove the row only on a yes."""
        index, self.asking, self._asked = self._asked, None, None
        removal = self.removal
        if not yes or index is None or removal is None:
            return
        try:
            self.message = self.clean(removal.remove(index))
        except UserError as error:
            self.message = self.clean(str(error))
            return
        self.gone.add(index)
        self.quick = [i for i in self.quick if i != index]
        self.deep.pop(index, None)
        position = self.at
        self._show(keep=None)
        self.move_to(position)

    # -- drawing ------------------------------------------------------------------------------
    def counted(self) -> str:
        total = len(self.cells) - len(self.gone)
        return f"{total:,}" if len(self.shown) == total else f"{len(self.shown):,} of {total:,}"

    def _layout(self, width: int) -> list[tuple[int, int]]:
        """The columns drawn on a line ``width`` wide and their widths: the flexible one takes what the others
        leave; a column with nothing in it (no heading, empty cells) is left out, and so are the last ones when
        the flexible one would be narrower than :data:`MIN_FLEXIBLE_WIDTH`."""
        drawn = [(at, self.widths[at]) for at, column in enumerate(self.columns) if self.widths[at] or not column.width]
        while True:
            fixed = sum(w for _, w in drawn) + len(GAP) * (len(drawn) - 1) + 1
            rightmost = [place for place, (at, _) in enumerate(drawn) if self.columns[at].width][-1:]
            if width - fixed >= MIN_FLEXIBLE_WIDTH or not rightmost or len(drawn) == 1:
                break
            del drawn[rightmost[0]]  # a narrow terminal: the last columns go before the flexible one is cut to nothing
        return [(at, w if self.columns[at].width else max(1, width - fixed)) for at, w in drawn]

    def headings(self, width: int) -> StyleAndTextTuples:
        columns = self.columns
        text = GAP.join(fit(columns[at].heading, w, right=columns[at].right) for at, w in self._layout(width))
        return [("class:heading", fit(" " + text, width))]

    def lines(self, width: int, height: int) -> list[StyleAndTextTuples]:
        """The rows on screen, ``height`` at most, the highlighted one among them."""
        self.page = max(1, height)
        if not self.shown:
            more = " yet (searching…)" if self.searching else "."
            return [[("class:dim", fit(f" Nothing matches{more}", width))]]
        if self.at < self.top:
            self.top = self.at
        elif self.at >= self.top + height:
            self.top = self.at - height + 1
        self.top = max(0, min(self.top, len(self.shown) - height))
        layout = self._layout(width)
        end = min(len(self.shown), self.top + height)
        return [self._line(self.shown[p], p == self.at, layout, width) for p in range(self.top, end)]

    def _line(self, index: int, selected: bool, layout: list[tuple[int, int]], width: int) -> StyleAndTextTuples:
        style = "class:selected" if selected else ""
        cells, note = self.cells[index], self.deep.get(index)
        fragments: StyleAndTextTuples = [(style, " ")]
        for at, column_width in layout:
            if len(fragments) > 1:
                fragments.append((style, GAP))
            column = self.columns[at]
            if column.width or note is None:
                fragments.append((style, fit(cells[at], column_width, right=column.right)))
            else:
                fragments += self._found_cell(cells[at], note, column_width, style)
        used = sum(get_cwidth(fragment[1]) for fragment in fragments)
        fragments.append((style, " " * max(0, width - used)))
        return fragments

    def _found_cell(self, cell: str, note: str, width: int, style: str) -> StyleAndTextTuples:
        """The flexible cell of a row the deeper search found: its text, then where it was found (half at least)."""
        title = fit(cell, min(get_cwidth(cell), width // 2) or 1).rstrip()
        room = width - get_cwidth(title)
        found = fit(GAP + self.clean(f"{self.found}: {note[:MAX_CELL_CHARS]}"), room).rstrip()
        return [(style, title), (f"{style} class:found", found), (style, " " * (room - get_cwidth(found)))]
