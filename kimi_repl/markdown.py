"""Markdown for the terminal: cutting a stream into blocks, and rendering untrusted markdown safely.

A reply arrives in pieces. :class:`BlockSplitter` cuts it into blocks that can no longer change (ended by a
blank line, or a closed code fence) and the unfinished rest, at a cost proportional to the new text only.
:func:`markdown_lines` renders markdown with rich, made safe token by token (see :func:`chat_markdown`), with
rich's spacing made regular: a run of blank lines between blocks is one blank line, whatever rich puts around
lists, tables and code. So several blocks rendered together look exactly like the same blocks rendered one by
one, and a view may render whatever blocks are ready in one go.
"""

from __future__ import annotations

import copy
import functools
import re
from typing import TYPE_CHECKING

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


class BlockSplitter:
    """Cuts streamed markdown into finished blocks and the unfinished tail.

    A block is finished by a blank line outside a code fence, or by the line that closes its fence.
    ``feed`` costs time proportional to the new text only.

    Attributes:
        version: counts changes, so a view can tell whether the tail needs rendering again.
        finished: how many blocks have been finished so far.
    """

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._partial: list[str] = []  # pieces of the unfinished last line (joined only when needed)
        self._fence: str | None = None  # the opening run of ` or ~ while inside a fenced block
        self.version = 0
        self.finished = 0

    def feed(self, text: str) -> list[str]:
        """Add streamed text; return the blocks it finished, in order."""
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
        finished: list[str] = []
        for line in (first, *middle):
            block = self._add_line(line)
            if block is not None:
                finished.append(block)
        return finished

    def _add_line(self, line: str) -> str | None:
        if self._fence is not None:
            self._lines.append(line)
            stripped = line.strip()
            if stripped.startswith(self._fence) and stripped.strip(self._fence[0]) == "":
                self._fence = None
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

    def flush(self) -> str:
        """End of stream: return whatever is left as the last block."""
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


def yield_lines(lines: list[list[Segment]], *, end: bool) -> RenderResult:
    """The segments of ``lines`` with line breaks between them (and after the last if ``end``)."""
    new_line = Segment.line()
    for index, line in enumerate(lines):
        if index:
            yield new_line
        yield from line
    if end and lines:
        yield new_line


class MarkdownBlocks:
    """Finished blocks, rendered together in one go (after a blank line, when ``after`` says so)."""

    def __init__(self, blocks: list[str], *, after: bool = False) -> None:
        self.text = "\n\n".join(blocks)
        self.after = after

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lines = markdown_lines(console, self.text, options)
        if self.after and lines:
            yield Segment.line()
        yield from yield_lines(lines, end=True)
