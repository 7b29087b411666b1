"""Markdown for the terminal: cutting a stream into blocks, and rendering untrusted markdown safely.

A reply arrives in pieces. :class:`BlockSplitter` cuts it into blocks that can no longer change (ended by a
blank line, or a closed code fence) and the unfinished rest, at a cost proportional to the new text only.
:func:`markdown_lines` renders markdown with rich, made safe token by token (see :func:`chat_markdown`), with
rich's spacing made regular: a run of blank lines between blocks is one blank line, whatever rich puts around
lists, tables and code. So several blocks rendered together look exactly like the same blocks rendered one by
one, and a view may render whatever blocks are ready in one go. The older lines of a long code block can be
let go before its fence closes, as :class:`CodePiece` objects that :func:`code_piece_lines` draws exactly as
rich draws those lines of the whole block.
"""

from __future__ import annotations

import copy
import functools
import re
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

_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})([^`]*)$")


CONTEXT_LINES = 60
"""Code lines before a piece of a long code block that are highlighted with it, so that a string or comment
begun before the piece is coloured as one (pygments cannot resume a lexer where it stopped)."""


def _from_the_margin(lines: list[str]) -> list[str]:
    """``lines`` from the last that starts at the margin with neither a quote nor a comment's end: a top-level
    statement, where a lexer starts afresh (the middle of a docstring or a block comment is indented or not
    where code lines start), so what comes before it is not needed."""
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        if line and not line[0].isspace() and line[0] not in "'\"`*":
            return lines[index:]
    return lines


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


class BlockSplitter:
    """Cuts streamed markdown into finished blocks and the unfinished tail.

    A block is finished by a blank line outside a code fence, or by the line that closes its fence.
    ``feed`` costs time proportional to the new text only. The older lines of a long fenced block can be
    let go before it ends (:meth:`release`): the rest of that block then comes as the last
    :class:`CodePiece`.

    Attributes:
        version: counts changes, so a view can tell whether the tail needs rendering again.
        finished: how many blocks have been finished so far.
    """

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._partial: list[str] = []  # pieces of the unfinished last line (joined only when needed)
        self._fence: str | None = None  # the opening run of ` or ~ while inside a fenced block
        self._released: list[str] = []  # the last code lines let go of the current block (none: none were)
        self.version = 0
        self.finished = 0

    @property
    def continues_code(self) -> bool:
        """The unfinished block is a code block whose first lines were let go (printed already)."""
        return bool(self._released)

    def release(self, keep: int, *, at_least: int) -> CodePiece | None:
        """Let go of the unfinished code block's lines but its last ``keep``, if that is ``at_least`` lines
        (one at least).

        Only a fenced block that opens the block, at the margin, is cut (a fence inside a list item renders
        indented, as part of the list).
        """
        lines = self._lines
        if self._fence is None or not lines or not lines[0].startswith(self._fence):
            return None
        count = len(lines) - 1 - keep  # code lines to let go (the first line is the fence's opening)
        while count > 0 and not lines[count].strip():
            count -= 1  # blank lines stay until code follows them: a block's last blank lines are not drawn
        if count < max(1, at_least):
            return None
        out = lines[1 : 1 + count]
        piece = self._piece(out, last=False)
        self._released = (self._released + out)[-CONTEXT_LINES:]
        self._lines = [lines[0], *lines[1 + count :]]
        self.version += 1
        return piece

    def feed(self, text: str) -> list[str | CodePiece]:
        """Add streamed text; return the blocks it finished, in order (none of them blank)."""
        self.version += 1
        if "\n" not in text:
            self._partial.append(text)
            if len(self._partial) > 64:  # a very long line: keep joining it cheap
                self._partial = ["".join(self._partial)]
            return []
        head, *middle, last = text.split("\n")
        self._partial.append(head)
        first = "".join(self._partial)
        self._partial = [last] if last else []
        finished: list[str | CodePiece] = []
        for line in (first, *middle):
            block = self._add_line(line)
            if block is not None:
                finished.append(block)
        return finished

    def _add_line(self, line: str) -> str | CodePiece | None:
        if self._fence is not None:
            self._lines.append(line)
            stripped = line.strip()
            if stripped.startswith(self._fence) and stripped.strip(self._fence[0]) == "":
                self._fence = None
                if self._released:
                    return self._take_rest(self._lines[1:-1])
                return self._take()
            return None
        if not line.strip():
            return self._take() if self._lines else None
        opening = _FENCE_OPEN.match(line)
        if opening:
            self._fence = opening.group(1)
        self._lines.append(line)
        return None

    def _take(self) -> str:
        block = "\n".join(self._lines)
        self._lines = []
        self.finished += 1
        return block

    def _piece(self, code: list[str], *, last: bool) -> CodePiece:
        """``code`` of the unfinished block as a piece, after the lines let go before it."""
        context = tuple(_from_the_margin(self._released))
        return CodePiece(self._lines[0], context, tuple(code), first=not self._released, last=last)

    def _take_rest(self, code: list[str]) -> CodePiece:
        """The last piece of a code block whose first lines were let go."""
        piece = self._piece(code, last=True)
        self._lines, self._released = [], []
        self.finished += 1
        return piece

    def _partial_line(self) -> str:
        return "".join(self._partial)

    @property
    def has_lines(self) -> bool:
        """Whether the unfinished block has a complete line (something worth showing as the first words)."""
        return bool(self._lines)

    @property
    def tail(self) -> str:
        """The unfinished block, partial last line included."""
        return "\n".join([*self._lines, self._partial_line()])

    def preview(self, max_lines: int) -> str:
        """The end of the unfinished block, at most about ``max_lines`` lines, for the live region.

        The block's first two lines stay (a code fence's opening, a table's header), so the end renders
        the way it will in the finished block; the cost does not grow with the block.
        """
        lines = self._lines
        if len(lines) > max_lines + 2:
            lines = lines[:2] + lines[-max_lines:]
        return "\n".join([*lines, self._partial_line()])

    def flush(self) -> str | CodePiece:
        """End of stream: return whatever is left as the last block ("" if nothing)."""
        if self._released:
            partial = self._partial_line()
            rest: str | CodePiece = self._take_rest([*self._lines[1:], *([partial] if partial else [])])
        else:
            rest = self.tail
        self._lines, self._partial, self._fence = [], [], None
        return rest

    def reopening(self) -> str:
        """What a continuation of this text needs in front of it to render as the block it continues.

        Inside a code fence: the fence's opening line (the rest is code, not prose, and its closing fence
        must not open a new one); inside a table: the header and its rule. Otherwise nothing.
        """
        lines = self._lines
        if self._fence is not None and lines:
            return lines[0] + "\n"
        if len(lines) >= 2 and lines[0].lstrip().startswith("|") and set(lines[1].strip()) <= set("|-: "):
            return "\n".join(lines[:2]) + "\n"
        return ""


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
    them as markers, and a link whose text is not its target shows the target after it.
    """
    template, parser = _markdown_template()
    markdown = copy.copy(template)
    markdown.markup = text
    markdown.parsed = parser.parse(text)
    sanitise, links = _may_hold_unsafe(text), "[" in text
    if sanitise or links:
        _make_safe(markdown.parsed, sanitise=sanitise, links=links)
    return markdown


_DECODED_BY_THE_PARSER = re.compile(r"&[#A-Za-z]|<[^>\n]*%|\r")
"""What the parser may turn into characters the text does not hold: entities (``&#27;``, ``&zwj;``), an
autolink's percent escapes (``<http://x/%1B>``), and CR LF."""


def _may_hold_unsafe(text: str) -> bool:
    """Whether the tokens parsed from ``text`` may hold a character to sanitise (two searches at C speed: most
    replies have none, and sanitising every token costs a sixth of parsing them)."""
    return bool(may_change(text) or _DECODED_BY_THE_PARSER.search(text))


def _make_safe(tokens: list[Token], *, sanitise: bool, links: bool) -> None:
    for token in tokens:
        if sanitise:
            token.content = marked(token.content) if token.type in _CODE_TOKENS else for_terminal(token.content)
            for name, value in (token.attrs or {}).items():
                token.attrs[name] = for_terminal(str(value))
        if token.children:
            _make_safe(token.children, sanitise=sanitise, links=links)
            if links:
                _show_link_targets(token.children)


def _show_link_targets(children: list[Token]) -> None:
    """After each link whose text is not its target, add `` (target)``: no link can pass for another."""
    from markdown_it.token import Token

    index, opened = 0, -1
    while index < len(children):
        token = children[index]
        if token.type == "link_open":
            opened = index
        elif token.type == "link_close" and opened >= 0:
            href = str(children[opened].attrs.get("href", ""))
            shown = "".join(t.content for t in children[opened + 1 : index] if t.type in ("text", "code_inline"))
            if _plain_target(shown) != _plain_target(href):
                children.insert(index + 1, Token("text", "", 0, content=f" ({href})"))
                index += 1
            opened = -1
        index += 1


def _plain_target(url: str) -> str:
    """``url`` without its scheme and trailing slash, lower case: ``example.com`` names ``https://example.com/``."""
    return re.sub(r"^(?:https?://|mailto:)", "", url.strip().lower()).rstrip("/")


def code_blocks(text: str) -> list[str]:
    """The code of each fenced or indented block of markdown ``text``, in order (for /copy code)."""
    _, parser = _markdown_template()
    return [token.content for token in parser.parse(text) if token.type in ("fence", "code_block")]


def warm_up() -> None:
    """Render a little markdown once, off screen, so the first reply does not pay for loading the markdown
    parser, the code highlighter and its theme (about a tenth of a second)."""
    import io

    console = Console(file=io.StringIO(), force_terminal=True, width=80, color_system="truecolor")
    markdown_lines(console, "# Title\n\nSome *text*.\n\n- item\n\n```python\nx = 1\n```\n", console.options)


def markdown_lines(console: Console, text: str, options: ConsoleOptions) -> list[list[Segment]]:
    """``text`` rendered as markdown: no blank line before or after, and never two in a row (rich puts extra
    ones around lists, tables and code); each line without rich's trailing padding."""
    lines: list[list[Segment]] = []
    blank = True  # at the start, as after a blank line: a blank line here is dropped
    for line in console.render_lines(chat_markdown(text), options, pad=False):
        if _is_blank(line):
            if not blank:
                lines.append([])
            blank = True
        else:
            lines.append(_without_padding(line))
            blank = False
    if lines and not lines[-1]:
        lines.pop()
    return lines


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
    from rich.syntax import Syntax

    opening = _FENCE_OPEN.match(piece.opening)
    lexer = (opening.group(2) if opening else "").strip().partition(" ")[0] or "text"
    code = marked("\n".join([*piece.context, *piece.lines]))
    shown = len(piece.lines)
    if piece.last:
        code = code.rstrip()  # as rich draws a whole block: its last blank lines are not drawn
        shown = code.count("\n") + 1 - len(piece.context) if code else 0
    if shown <= 0:  # nothing left to show but the block's bottom edge
        edge = _syntax_lines(console, Syntax(" ", lexer, theme=CODE_THEME, word_wrap=True, padding=1), options)
        return edge[-1:]
    start = len(piece.context) + 1
    syntax = Syntax(code, lexer, theme=CODE_THEME, word_wrap=True, padding=1, line_range=(start, start + shown - 1))
    lines = _syntax_lines(console, syntax, options)
    return lines[(0 if piece.first else 1) : (None if piece.last else -1)]


def _syntax_lines(console: Console, syntax: Any, options: ConsoleOptions) -> list[list[Segment]]:
    return [_without_padding(line) for line in console.render_lines(syntax, options, pad=False)]


class MarkdownBlocks:
    """Finished blocks, rendered together in one go (after a blank line, when ``after`` says so)."""

    def __init__(self, blocks: list[str], *, after: bool = False) -> None:
        self.text = "\n\n".join(blocks)
        self.after = after

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from yield_lines(markdown_lines(console, self.text, options), end=True, gap=self.after)
