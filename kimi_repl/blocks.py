"""Cutting streamed markdown into blocks: finished ones that can no longer change, and the unfinished rest.

A reply arrives in pieces. :class:`BlockSplitter` cuts it into blocks that can no longer change (ended by a
blank line, or a closed code fence) and the unfinished rest, at a cost proportional to the new text only. The
older lines of a long code block can be let go before its fence closes, as :class:`CodePiece` objects.

The text is untrusted, so what is kept is bounded whatever its size: a block past :data:`BLOCK_LINES` lines or
:data:`BLOCK_CHARS` characters (a line past :data:`LINE_CHARS`) is kept cut, with a note (:class:`CutBlock`).
"""

from __future__ import annotations

import re
from typing import NamedTuple

FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}(?!`)|~{3,}(?!~))([^`]*)$")
"""A fence's opening line (the lookaheads keep a long run of fence characters from being tried at every length)."""

BLOCK_LINES = 3_000
"""A block (a paragraph, a list, a table, a quote) is drawn up to this many lines; the rest is not drawn, and a
note says how much. A fenced code block is drawn whole, in pieces of at most this many lines."""
BLOCK_CHARS = 200_000
"""A block is drawn up to this many characters, the same way."""
LINE_CHARS = 20_000
"""A line is drawn up to this many characters (a code line too: highlighting a long line costs memory in
proportion to its length, many times over)."""
CODE_PIECE_CHARS = 64_000
"""A fenced code block lets go of its older lines as a piece once it holds this many characters, between frames
too (a burst), so that no render highlights more than about this much code."""
CONTEXT_LINES = 60
"""Code lines before a piece of a long code block that are highlighted with it, so that a string or comment
begun before the piece is coloured as one (pygments cannot resume a lexer where it stopped)."""
CONTEXT_CHARS = 4_000
"""At most this many characters of those lines."""
KEPT = "(the whole reply is kept: /copy, /save)"


def _from_the_margin(lines: list[str]) -> list[str]:
    """``lines`` from the last that starts at the margin with neither a quote nor a comment's end: a top-level
    statement, where a lexer starts afresh (the middle of a docstring or a block comment is indented or not
    where code lines start), so what comes before it is not needed."""
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        if line and not line[0].isspace() and line[0] not in "'\"`*":
            return lines[index:]
    return lines


def _within(lines: list[str], chars: int) -> list[str]:
    """The last of ``lines`` that hold at most ``chars`` characters together."""
    start = len(lines)
    while start and chars >= len(lines[start - 1]):
        start -= 1
        chars -= len(lines[start]) + 1
    return lines[start:]


class CodePiece(NamedTuple):
    """Lines of a long fenced code block, printed before the block ends (so that it scrolls into view as it
    streams, not all at once when its fence closes).

    Attributes:
        opening: the fence's opening line (it names the language).
        context: the code lines just before these, highlighted with them but not shown.
        lines: the code lines to show.
        first: the block's first piece (it shows the block's top edge); last: its last (the bottom edge).
    """

    opening: str
    context: tuple[str, ...]
    lines: tuple[str, ...]
    first: bool
    last: bool


class CutBlock(str):
    """A finished block too long to draw whole: the text of its start, and a note saying what is not drawn."""

    note: str

    def __new__(cls, text: str, note: str) -> CutBlock:
        block = super().__new__(cls, text)
        block.note = note
        return block


def cut_note(lines: int, chars: int, *, rows: bool = False) -> str:
    """The note after a block whose last ``chars`` characters of a line and ``lines`` more lines are not drawn."""
    more = f"{lines:,} more {'rows' if rows else 'lines'}" if lines else ""
    if chars:
        more = f"the rest of this line ({chars:,} characters)" + (f" and {more}" if more else "")
    return f"… {more} not shown {KEPT}"


def cut_line(line: str, kept: str = KEPT) -> str:
    """``line`` as drawn: at most :data:`LINE_CHARS` characters, and a note when it is longer."""
    if len(line) <= LINE_CHARS:
        return line
    return f"{line[:LINE_CHARS]} … {len(line) - LINE_CHARS:,} more characters not shown {kept}"


class PartialLine:
    """A line arriving in pieces: adding a piece costs its length (amortised), the line is joined once, when it
    ends, and a part of it costs only that part's length to read."""

    def __init__(self) -> None:
        self._groups: list[str] = []  # pieces joined 64 at a time
        self._pieces: list[str] = []
        self.length = 0

    def add(self, text: str) -> None:
        if text:
            self._pieces.append(text)
            self.length += len(text)
            if len(self._pieces) >= 64:
                self._groups.append("".join(self._pieces))
                self._pieces = []

    def take(self) -> str:
        """The whole line; this one is left empty."""
        line = "".join([*self._groups, *self._pieces])
        self._groups, self._pieces, self.length = [], [], 0
        return line

    def part(self, start: int, stop: int) -> str:
        """``line[start:stop]`` (``0 <= start <= stop <= length``), read from whichever end is nearer."""
        out: list[str] = []
        if start < self.length - stop:
            begin = 0
            for chunk in [*self._groups, *self._pieces]:
                end = begin + len(chunk)
                if end > start:
                    out.append(chunk[max(0, start - begin) : stop - begin])
                if end >= stop:
                    break
                begin = end
            return "".join(out)
        end = self.length
        for chunk in [*reversed(self._pieces), *reversed(self._groups)]:
            begin = end - len(chunk)
            if begin < stop:
                out.append(chunk[max(0, start - begin) : stop - begin])
            if begin <= start:
                break
            end = begin
        return "".join(reversed(out))


class BlockSplitter:
    """Cuts streamed markdown into finished blocks and the unfinished tail.

    A block is finished by a blank line outside a code fence, by the line that closes its fence, or by a fence
    that opens at the margin (it starts a block of its own). ``feed`` costs time proportional to the new text
    only, and memory is bounded whatever the blocks' sizes: a block longer than :data:`BLOCK_LINES` lines or
    :data:`BLOCK_CHARS` characters keeps only that much (the rest is counted, and it comes as a
    :class:`CutBlock`), a line only :data:`LINE_CHARS` characters, and the older lines of a fenced code block
    are let go before it ends (:meth:`release`, and on their own past :data:`CODE_PIECE_CHARS`): the rest of
    that block then comes as the last :class:`CodePiece`.

    Attributes:
        version: counts changes, so a view can tell whether the tail needs rendering again.
        finished: how many blocks have been finished so far.
    """

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._chars = 0  # characters of those lines, a newline each included
        self._partial = PartialLine()  # the unfinished last line
        self._fence: str | None = None  # the opening run of ` or ~ while inside a fenced block
        self._released: list[str] = []  # the last code lines let go of the current block (none: none were)
        self._hidden_lines = 0  # lines of the current block past its limits, counted but not kept
        self._hidden_chars = 0  # characters of its last kept line that were not kept
        self.version = 0
        self.finished = 0

    @property
    def continues_code(self) -> bool:
        """The unfinished block is a code block whose first lines were let go (printed already)."""
        return bool(self._released)

    @property
    def _in_code(self) -> bool:
        """The unfinished block is a fenced code block opened at the margin: drawn in pieces, never cut."""
        return self._fence is not None and bool(self._lines) and self._lines[0].startswith(self._fence)

    def release(self, keep: int, *, at_least: int) -> CodePiece | None:
        """Let go of the unfinished code block's lines but its last ``keep``, if that is ``at_least`` lines
        (one at least).

        Only a fenced block that opens the block, at the margin, is cut (a fence inside a list item renders
        indented, as part of the list).
        """
        lines = self._lines
        if not self._in_code:
            return None
        count = len(lines) - 1 - keep  # code lines to let go (the first line is the fence's opening)
        while count > 0 and not lines[count].strip():
            count -= 1  # blank lines stay until code follows them: a block's last blank lines are not drawn
        if count < max(1, at_least):
            return None
        return self._let_go(count)

    def _let_go(self, count: int) -> CodePiece:
        """The unfinished code block's first ``count`` code lines, let go as a piece."""
        lines = self._lines
        out = lines[1 : 1 + count]
        piece = self._piece(out, last=False)
        self._released = (self._released + out)[-CONTEXT_LINES:]
        self._lines = [lines[0], *lines[1 + count :]]
        self._chars = sum(len(line) + 1 for line in self._lines)
        self.version += 1
        return piece

    def feed(self, text: str) -> list[str | CodePiece]:
        """Add streamed text; return the blocks it finished, in order (none of them blank)."""
        self.version += 1
        if "\n" not in text:
            self._partial.add(text)
            return []
        head, *middle, last = text.split("\n")
        self._partial.add(head)
        first = self._partial.take()
        self._partial.add(last)
        finished: list[str | CodePiece] = []
        for line in (first, *middle):
            block = self._add_line(line)
            if block is not None:
                finished.append(block)
        return finished

    def _add_line(self, line: str) -> str | CodePiece | None:
        if self._fence is not None:
            stripped = line.strip()
            closes = stripped.startswith(self._fence) and stripped.strip(self._fence[0]) == ""
            if self._in_code:
                self._lines.append(cut_line(line))
                self._chars += len(self._lines[-1]) + 1
            else:
                self._keep(line)
            if closes:
                self._fence = None
                if self._released:
                    return self._take_rest(self._lines[1:-1])
                return self._take()
            if self._in_code and (self._chars > CODE_PIECE_CHARS or len(self._lines) > BLOCK_LINES):
                # as many lines as a piece holds: let them go, blank ones too if that is all they are
                return self.release(0, at_least=1) or self._let_go(len(self._lines) - 1)
            return None
        if not line.strip():
            return self._take() if self._lines else None
        finished: str | CodePiece | None = None
        opening = FENCE_OPEN.match(line)
        if opening:
            self._fence = opening.group(1)
            if self._lines and line.startswith(self._fence):  # a fence at the margin ends the block before it
                finished = self._take()
            if not self._lines:  # the opening of a block of code: its language is in the first word
                line = line[:LINE_CHARS]
        self._keep(line)
        return finished

    def _keep(self, line: str) -> None:
        """Add ``line`` to the unfinished block, or as much of it as the block's limits leave room for."""
        if self._hidden_lines or self._hidden_chars or len(self._lines) >= BLOCK_LINES:
            self._hidden_lines += 1
            return
        room = min(LINE_CHARS, BLOCK_CHARS - self._chars)
        if len(line) > room:
            line, self._hidden_chars = line[:room], len(line) - room
        self._lines.append(line)
        self._chars += len(line) + 1

    def _note(self) -> str:
        """The note for what the unfinished block does not keep ("" if it keeps everything)."""
        if not (self._hidden_lines or self._hidden_chars):
            return ""
        return cut_note(self._hidden_lines, self._hidden_chars, rows=_is_table(self._lines))

    def _take(self) -> str | CutBlock:
        block = "\n".join(self._lines)
        note = self._note()
        self._lines, self._chars, self._hidden_lines, self._hidden_chars = [], 0, 0, 0
        self.finished += 1
        return CutBlock(block, note) if note else block

    def _piece(self, code: list[str], *, last: bool) -> CodePiece:
        """``code`` of the unfinished block as a piece, after the lines let go before it."""
        context = tuple(_within(_from_the_margin(self._released), CONTEXT_CHARS))
        return CodePiece(self._lines[0], context, tuple(code), first=not self._released, last=last)

    def _take_rest(self, code: list[str]) -> CodePiece:
        """The last piece of a code block whose first lines were let go."""
        piece = self._piece(code, last=True)
        self._lines, self._chars, self._released = [], 0, []
        self.finished += 1
        return piece

    @property
    def has_lines(self) -> bool:
        """Whether the unfinished block has a complete line."""
        return bool(self._lines)

    @property
    def tail(self) -> str:
        """The unfinished block as it is kept, partial last line included."""
        return "\n".join([*self._lines, self._partial.part(0, self._partial.length)])

    @property
    def note(self) -> str:
        """What will not be drawn of the unfinished block, for the live region ("" when nothing)."""
        lines, chars = self._hidden_lines, self._hidden_chars
        shown = self._partial_shown()
        if self._partial.length > shown:
            if shown:
                chars = self._partial.length - shown
            else:
                lines += 1
        return cut_note(lines, chars, rows=_is_table(self._lines)) if lines or chars else ""

    def _partial_shown(self) -> int:
        """How many characters of the partial line will be drawn (all of them but past the limits)."""
        if self._in_code:
            return min(self._partial.length, LINE_CHARS)
        if self._hidden_lines or self._hidden_chars or len(self._lines) >= BLOCK_LINES:
            return 0
        return min(self._partial.length, LINE_CHARS, BLOCK_CHARS - self._chars)

    def preview(self, max_lines: int, max_chars: int) -> str:
        """The end of the unfinished block, at most about ``max_lines`` lines and ``max_chars`` characters, for
        the live region: the end of what will be drawn of it (see :attr:`note` for the rest).

        The block's first two lines stay (a code fence's opening, a table's header), so the end renders
        the way it will in the finished block; the cost does not grow with the block. A line cut short shows
        its end after a "…".
        """
        budget = max_chars
        shown = self._partial_shown()
        last = self._partial.part(max(0, shown - budget), shown)
        if len(last) < shown:
            last = _cut_start(last)
        budget -= len(last) + 1
        lines = self._lines
        tail: list[str] = []
        index = len(lines)
        while index and len(tail) < max_lines and budget > 0:
            index -= 1
            line = lines[index]
            if len(line) > budget:
                line = _cut_start(line[-budget:])
            budget -= len(line) + 1
            tail.append(line)
        tail.reverse()
        head = lines[: min(index, 2)]
        if budget <= 0:  # cut short: the head lines only open the block
            head = [line[: max_chars // 4] for line in head]
        return "\n".join([*head, *tail, last])

    def flush(self) -> str | CodePiece:
        """End of stream: return whatever is left as the last block ("" if nothing)."""
        partial = self._partial.take()
        if self._released:
            rest: str | CodePiece = self._take_rest([*self._lines[1:], *([cut_line(partial)] if partial else [])])
        elif self._in_code:
            self._lines.append(cut_line(partial))
            rest = "\n".join(self._lines)
        else:
            if partial or not (self._hidden_lines or self._hidden_chars):
                self._keep(partial)
            block = "\n".join(self._lines)
            note = self._note()
            rest = CutBlock(block, note) if note else block
        self._lines, self._chars, self._fence, self._hidden_lines, self._hidden_chars = [], 0, None, 0, 0
        return rest

    def reopening(self) -> str:
        """What a continuation of this text needs in front of it to render as the block it continues.

        Inside a code fence: the fence's opening line (the rest is code, not prose, and its closing fence
        must not open a new one); inside a table: the header and its rule. Otherwise nothing.
        """
        lines = self._lines
        if self._fence is not None and lines:
            return lines[0] + "\n"
        if _is_table(lines):
            return "\n".join(lines[:2]) + "\n"
        return ""


def _cut_start(end: str) -> str:
    """The ``end`` of a line, after a "…" (and without a ``|`` there, which would make a table cell of it)."""
    return "…" + end.lstrip("|")


def _is_table(lines: list[str]) -> bool:
    """Whether ``lines`` open with a table's header and rule."""
    return len(lines) >= 2 and lines[0].lstrip().startswith("|") and set(lines[1].strip()) <= set("|-: ")


def reopening(text: str) -> str:
    """:meth:`BlockSplitter.reopening` for a whole text (a reply being continued)."""
    splitter = BlockSplitter()
    splitter.feed(text + "\n" if text and not text.endswith("\n") else text)
    return splitter.reopening()
