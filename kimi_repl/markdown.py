"""Markdown for the terminal: cutting a stream into blocks, and rendering untrusted markdown safely.

A reply arrives in pieces. :class:`BlockSplitter` cuts it into blocks that can no longer change (ended by a
blank line, or a closed code fence) and the unfinished rest, at a cost proportional to the new text only.
:func:`markdown_lines` renders markdown with rich, made safe token by token (see :func:`chat_markdown`), with
rich's spacing made regular: a run of blank lines between blocks is one blank line, whatever rich puts around
lists, tables and code. So several blocks rendered together look exactly like the same blocks rendered one by
one, and a view may render whatever blocks are ready in one go. The older lines of a long code block can be
let go before its fence closes, as :class:`CodePiece` objects that :func:`code_piece_lines` draws exactly as
rich draws those lines of the whole block.

The text is untrusted, so what is drawn is bounded whatever its size: a block past :data:`BLOCK_LINES` lines or
:data:`BLOCK_CHARS` characters (a line past :data:`LINE_CHARS`) is drawn cut, with a note (:class:`CutBlock`),
and text rich would leave out without a word (nesting it cannot lay out, a table too wide) is shown as written.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment

from kimi_repl.sanitize import for_terminal, marked, may_change

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token
    from rich.markdown import Markdown

CODE_THEME = "monokai"
_CODE_TOKENS = frozenset({"fence", "code_block", "code_inline"})

_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}(?!`)|~{3,}(?!~))([^`]*)$")
"""A fence's opening line (the lookaheads keep a long run of fence characters from being tried at every length)."""

BLOCK_LINES = 3_000
"""A block (a paragraph, a list, a table, a quote) is drawn up to this many lines; the rest is not drawn, and a
note says how much. A fenced code block is drawn whole, in pieces of at most this many lines."""
BLOCK_CHARS = 200_000
"""A block is drawn up to this many characters, the same way."""
LINE_CHARS = 20_000
"""A line is drawn up to this many characters (a code line too: highlighting a long line costs about a kilobyte
of memory a character)."""
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
        opening = _FENCE_OPEN.match(line)
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
        """Whether the unfinished block has a complete line (something worth showing as the first words)."""
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


def _is_blank(line: list[Segment]) -> bool:
    """A line with only spaces and no background colour (rich's spacing, not a code block's padding)."""
    return all(not seg.text.strip() and not (seg.style and seg.style.bgcolor) for seg in line)


@functools.cache
def _markdown_template() -> tuple[Markdown, MarkdownIt]:
    """A rich Markdown to copy, and one parser for every block (rich builds a new parser per document).

    The parser keeps the line breaks the model wrote (as chat UIs do): a line break inside a paragraph is a
    hard break, not a space.
    """
    from markdown_it import MarkdownIt
    from markdown_it.rules_inline import newline
    from markdown_it.rules_inline.state_inline import StateInline
    from rich.markdown import Markdown

    def line_break(state: StateInline, silent: bool) -> bool:
        found = newline(state, silent)
        if found and not silent and state.tokens[-1].type == "softbreak":
            state.tokens[-1].type = "hardbreak"
        return found

    parser = MarkdownIt().enable("strikethrough").enable("table")
    parser.inline.ruler.at("newline", line_break)
    return Markdown("", code_theme=CODE_THEME), parser


def chat_markdown(text: str) -> Markdown:
    """``text`` (untrusted) as rich Markdown, made safe, keeping the line breaks the model wrote (as chat UIs do).

    Every token is sanitised for what it is: prose loses control, bidi and invisible characters, code shows
    them as markers, and a link whose text is not its target shows the target after it. HTML shows as the
    text it is written as (rich would hide it, and /copy copies it), marked as code is.
    """
    template, parser = _markdown_template()
    markdown = copy.copy(template)
    markdown.markup = text
    tokens = parser.parse(text)
    if "<" in text:
        tokens = _html_as_text(tokens)
    sanitise, links = _may_hold_unsafe(text), "[" in text
    if sanitise or links:
        _make_safe(tokens, sanitise=sanitise, links=links)
    if _PLAIN_LEXERS:
        for token in tokens:
            if token.type == "fence" and _lexer_of(token.info) in _PLAIN_LEXERS:
                token.info = ""
    markdown.parsed = tokens
    return markdown


_DECODED_BY_THE_PARSER = re.compile(r"&[#A-Za-z]|<[^<>\s]*%|\r")
"""What the parser may turn into characters the text does not hold: entities (``&#27;``, ``&zwj;``), an
autolink's percent escapes (``<http://x/%1B>``: no ``<``, ``>`` or space inside, so that a search from each
``<`` stops at the next one), and CR LF."""


def _may_hold_unsafe(text: str) -> bool:
    """Whether the tokens parsed from ``text`` may hold a character to sanitise (two searches at C speed: most
    replies have none, and sanitising every token costs a sixth of parsing them)."""
    return bool(may_change(text) or _DECODED_BY_THE_PARSER.search(text))


def _html_as_text(tokens: list[Token]) -> list[Token]:
    """``tokens`` with each HTML block as a paragraph of its text and each inline tag as text, marked."""
    from markdown_it.token import Token

    shown: list[Token] = []
    for token in tokens:
        if token.type == "html_block":
            text = Token("text", "", 0, content=marked(token.content.rstrip("\n")))
            inline = Token("inline", "", 0, content=text.content, children=[text])
            shown += [Token("paragraph_open", "p", 1), inline, Token("paragraph_close", "p", -1)]
            continue
        if token.type == "inline" and token.children and "<" in token.content:
            for child in token.children:
                if child.type == "html_inline":
                    child.type, child.content = "text", marked(child.content)
        shown.append(token)
    return shown


def _make_safe(tokens: list[Token], *, sanitise: bool, links: bool) -> None:
    for token in tokens:
        if sanitise:
            token.content = marked(token.content) if token.type in _CODE_TOKENS else for_terminal(token.content)
            for name, value in (token.attrs or {}).items():
                token.attrs[name] = for_terminal(str(value))
        if token.children:
            _make_safe(token.children, sanitise=sanitise, links=links)
            if links:
                token.children = _show_link_targets(token.children)


def _show_link_targets(children: list[Token]) -> list[Token]:
    """``children`` with `` (target)`` after each link or image whose text is not its target: no link can pass for
    another. An image is text (rich would draw it as a link, apart from its paragraph)."""
    from markdown_it.token import Token

    shown: list[Token] = []
    opened = -1  # where in ``shown`` the open link starts
    for token in children:
        shown.append(token)
        if token.type == "image":  # rich draws it apart from its paragraph, as a link: text in its place instead
            source = str(token.attrs.get("src", ""))
            name = token.content or source.strip("/").rsplit("/", 1)[-1]
            target = f" ({source})" if _plain_target(token.content) != _plain_target(source) else ""
            shown[-1] = Token("text", "", 0, content=f"🌆 {name}{target}")
        elif token.type == "link_open":
            opened = len(shown) - 1
        elif token.type == "link_close" and opened >= 0:
            href = str(shown[opened].attrs.get("href", ""))
            text = "".join(t.content for t in shown[opened + 1 : -1] if t.type in ("text", "code_inline"))
            if _plain_target(text) != _plain_target(href):
                shown.append(Token("text", "", 0, content=f" ({href})"))
            opened = -1
    return shown


def _plain_target(url: str) -> str:
    """``url`` without its scheme and trailing slash, lower case: ``example.com`` names ``https://example.com/``."""
    return re.sub(r"^(?:https?://|mailto:)", "", url.strip().lower()).rstrip("/")


NARROWEST = 8
"""The fewest columns left to the text of a list item or quote nested in others: rich draws nothing in none (and
no code in two), so a block nested deeper than the screen allows is shown as written."""
_NESTED = "(nested too deeply to lay out: shown as written)"
_WIDE = "(a table with more columns than fit the screen: shown as written)"
_EXTRA_CELLS = "(a table row with more cells than its header: shown as written)"


def _why_not_drawn(tokens: list[Token], text: str, width: int) -> str:
    """Why rich would leave out some of the text of ``tokens`` (parsed from ``text``) at ``width``, or "".

    The parser stops at its nesting limit and drops a table row's cells past the header's; rich draws nothing
    where nesting leaves no width, nor in a table with more columns than fit.
    """
    deepest = _markdown_template()[1].options["maxNesting"] - 1
    indents = [0]  # the columns each open list item or quote takes, in total
    columns = 0
    lines: list[str] = []
    for token in tokens:
        kind = token.type
        if kind in ("blockquote_open", "list_item_open"):
            if token.level >= deepest:
                return _NESTED
            indent = 4 if kind == "blockquote_open" else len(token.info) + 3 if token.info else 3
            indents.append(indents[-1] + indent)
            if width - indents[-1] < NARROWEST:
                return _NESTED
        elif kind in ("blockquote_close", "list_item_close"):
            indents.pop()
        elif kind == "th_open":
            columns += 1
        elif kind == "thead_close":
            if 3 * columns >= width - indents[-1]:
                return _WIDE
        elif kind == "tr_open" and columns and token.map:
            lines = lines or _LINE_BREAK.split(text)
            if _cells(lines[token.map[0]]) > columns:
                return _EXTRA_CELLS
        elif kind == "table_close":
            columns = 0
    return ""


_LINE_BREAK = re.compile(r"\r\n?|\n")
"""Where the parser ends a line (its token maps count lines so)."""


def _cells(line: str) -> int:
    """How many cells a table row's line holds, as the parser counts them (at most: a quote's ``>`` is left)."""
    from markdown_it.rules_block.table import escapedSplit

    cells = escapedSplit(line.strip().lstrip(">").strip())
    return len(cells) - (cells[0] == "") - (len(cells) > 1 and cells[-1] == "")


def code_blocks(text: str) -> list[str]:
    """The code of each fenced or indented block of markdown ``text``, in order (for /copy code)."""
    return [token.content for token in _block_parser().parse(text) if token.type in ("fence", "code_block")]


@functools.cache
def _block_parser() -> MarkdownIt:
    """The parser of :func:`_markdown_template` for blocks only: no inline parsing, the most costly part on
    untrusted text, and of no use to find code blocks."""
    from markdown_it import MarkdownIt

    parser = MarkdownIt().enable("strikethrough").enable("table")
    parser.core.ruler.disable("inline")
    return parser


def warm_up() -> None:
    """Render a little markdown once, off screen, so the first reply does not pay for loading the markdown
    parser, the code highlighter and its theme (about a tenth of a second)."""
    import io

    console = Console(file=io.StringIO(), force_terminal=True, width=80, color_system="truecolor")
    markdown_lines(console, "# Title\n\nSome *text*.\n\n- item\n\n```python\nx = 1\n```\n", console.options)


def markdown_lines(console: Console, text: str, options: ConsoleOptions) -> list[list[Segment]]:
    """``text`` rendered as markdown: no blank line before or after, and never two in a row (rich puts extra
    ones around lists, tables and code); each line without rich's trailing padding.

    Text rich would not draw whole (see :func:`_why_not_drawn`) is shown as written instead, after a note
    saying why.
    """
    lines, why = _markdown_lines(console, text, options)
    return _as_written(console, text, why, options) if why else lines


def _markdown_lines(console: Console, text: str, options: ConsoleOptions) -> tuple[list[list[Segment]], str]:
    """:func:`markdown_lines` as markdown; or no lines, and why rich would not draw all of ``text``. Code is
    highlighted within :data:`HIGHLIGHT_SECONDS`, or drawn plain."""
    if "```" not in text and "~~~" not in text and "    " not in text:  # no code: nothing to highlight
        return _markdown_lines_once(console, text, options)
    try:
        with highlight_limit():
            return _markdown_lines_once(console, text, options)
    except SlowHighlight:
        _PLAIN_LEXERS.update(_fence_lexers(text))
        return _markdown_lines_once(console, text, options)


def _markdown_lines_once(console: Console, text: str, options: ConsoleOptions) -> tuple[list[list[Segment]], str]:
    markdown = chat_markdown(text)
    why = _why_not_drawn(markdown.parsed, text, options.max_width)
    if why:
        return [], why
    lines: list[list[Segment]] = []
    blank = True  # at the start, as after a blank line: a blank line here is dropped
    for line in console.render_lines(markdown, options, pad=False):
        if _is_blank(line):
            if not blank:
                lines.append([])
            blank = True
        else:
            lines.append(_without_padding(line))
            blank = False
    if lines and not lines[-1]:
        lines.pop()
    return lines, ""


def _as_written(console: Console, text: str, why: str, options: ConsoleOptions) -> list[list[Segment]]:
    """``text`` as plain text, marked as code is, after ``why`` (dim)."""
    from rich.text import Text

    return note_lines(console, why, options) + _lines_of(console, Text(marked(text.strip("\n"))), options)


def note_lines(console: Console, note: str, options: ConsoleOptions) -> list[list[Segment]]:
    """A note about what is shown, dim."""
    from rich.text import Text

    return _lines_of(console, Text(note, style="dim"), options)


def _without_padding(line: list[Segment]) -> list[Segment]:
    """``line`` without the trailing spaces rich pads it with (they re-wrap badly when the window narrows)."""
    end = len(line)
    while end and _is_blank(line[end - 1 : end]):
        end -= 1
    trimmed = line[:end]
    if trimmed and trimmed[-1].text.endswith(" ") and not (trimmed[-1].style and trimmed[-1].style.bgcolor):
        last = trimmed[-1]
        trimmed[-1] = Segment(last.text.rstrip(" "), last.style, last.control)
    return trimmed


def yield_lines(lines: list[list[Segment]], *, end: bool, gap: bool = False) -> RenderResult:
    """The segments of ``lines`` with line breaks between them (and after the last if ``end``; a blank line
    before them if ``gap``)."""
    new_line = Segment.line()
    if gap and lines:
        yield new_line
    for index, line in enumerate(lines):
        if index:
            yield new_line
        yield from line
    if end and lines:
        yield new_line


def code_piece_lines(console: Console, piece: CodePiece, options: ConsoleOptions) -> list[list[Segment]]:
    """``piece`` rendered as the part of its code block it is: the lines rich draws for the whole block
    (highlighted after the piece's context, padded, on the block's background), with the block's top edge
    only on the first piece and its bottom edge only on the last."""
    opening = _FENCE_OPEN.match(piece.opening)
    lexer = _lexer_of(opening.group(2) if opening else "")
    try:
        with highlight_limit():
            return _code_piece_lines(console, piece, options, lexer if lexer not in _PLAIN_LEXERS else "text")
    except SlowHighlight:
        _PLAIN_LEXERS.add(lexer)
        return _code_piece_lines(console, piece, options, "text")


def _code_piece_lines(console: Console, piece: CodePiece, options: ConsoleOptions, lexer: str) -> list[list[Segment]]:
    from rich.syntax import Syntax

    code = marked("\n".join([*piece.context, *piece.lines]))
    shown = len(piece.lines)
    if piece.last:
        code = code.rstrip()  # as rich draws a whole block: its last blank lines are not drawn
        shown = code.count("\n") + 1 - len(piece.context) if code else 0
    if shown <= 0:  # nothing left to show but the block's bottom edge
        edge = _lines_of(console, Syntax(" ", lexer, theme=CODE_THEME, word_wrap=True, padding=1), options)
        return edge[-1:]
    start = len(piece.context) + 1
    syntax = Syntax(code, lexer, theme=CODE_THEME, word_wrap=True, padding=1, line_range=(start, start + shown - 1))
    lines = _lines_of(console, syntax, options)
    return lines[(0 if piece.first else 1) : (None if piece.last else -1)]


HIGHLIGHT_SECONDS = 1.0
"""The longest one drawing may spend highlighting code. Some of pygments' lexers take exponential time on
text a hostile reply can hold (an unclosed string of backslashes in Scala, a long word in a Makefile); past
this the block is drawn plain, and so is that language for the rest of the run."""

_PLAIN_LEXERS: set[str] = set()
"""Languages whose highlighting ran out of time once: drawn plain from then on (a process-wide memo)."""


class SlowHighlight(Exception):
    """Highlighting ran past :data:`HIGHLIGHT_SECONDS`."""


def _too_slow(signum: int, frame: Any) -> None:
    raise SlowHighlight


@contextlib.contextmanager
def highlight_limit() -> Iterator[None]:
    """Raise :class:`SlowHighlight` in the block after :data:`HIGHLIGHT_SECONDS` (a timer signal: the regular
    expression engine checks for signals as it works). Where there is no such timer (Windows, another thread)
    the block runs unlimited."""
    import signal
    import threading

    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGALRM, _too_slow)
    signal.setitimer(signal.ITIMER_REAL, HIGHLIGHT_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _lexer_of(info: str) -> str:
    """The language a fence's info string names ("text" when none)."""
    return info.strip().partition(" ")[0] or "text"


def _fence_lexers(text: str) -> set[str]:
    """The languages the fences of ``text`` name."""
    return {_lexer_of(found.group(2)) for found in map(_FENCE_OPEN.match, text.split("\n")) if found}


def _lines_of(console: Console, renderable: Any, options: ConsoleOptions) -> list[list[Segment]]:
    return [_without_padding(line) for line in console.render_lines(renderable, options, pad=False)]


class MarkdownBlocks:
    """Finished blocks, rendered together in one go (after a blank line, when ``after`` says so), and a note
    after them (dim), if any."""

    def __init__(self, blocks: list[str], *, after: bool = False, note: str = "") -> None:
        self.blocks = blocks
        self.text = "\n\n".join(blocks)
        self.after = after
        self.note = note

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lines, why = _markdown_lines(console, self.text, options)
        if why and len(self.blocks) == 1:
            lines = _as_written(console, self.text, why, options)
        elif why:  # some block is shown as written: each on its own, as if printed one by one
            for block in self.blocks:
                drawn = markdown_lines(console, block, options)
                lines += [[], *drawn] if lines and drawn else drawn
        if self.note:
            lines += note_lines(console, self.note, options)
        yield from yield_lines(lines, end=True, gap=self.after)
