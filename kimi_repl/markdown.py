"""Markdown for the terminal: untrusted markdown rendered safely, with rich's spacing made regular.

:func:`markdown_lines` renders markdown with rich, made safe token by token (see :func:`chat_markdown`), with
rich's spacing made regular: a run of blank lines between blocks is one blank line, whatever rich puts around
lists, tables and code. So several blocks rendered together look exactly like the same blocks rendered one by
one, and a view may render whatever blocks are ready in one go (the blocks come from
:class:`~kimi_repl.blocks.BlockSplitter`; code is highlighted by :mod:`kimi_repl.highlight`).

The text is untrusted: text rich would leave out without a word (nesting it cannot lay out, a table too wide)
is shown as written, after a note saying why.
"""

from __future__ import annotations

import copy
import functools
import re
from typing import TYPE_CHECKING

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment

from kimi_repl.highlight import CODE_THEME, fence_lexers
from kimi_repl.lexing import PLAIN_LEXERS, SlowHighlight, highlight_limit, lexer_of
from kimi_repl.markdown_loss import LINE_BREAK, row_cells
from kimi_repl.sanitize import for_terminal, marked, may_change
from kimi_repl.segments import is_blank, lines_of, note_lines, without_padding, yield_lines

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token
    from rich.markdown import Markdown

_CODE_TOKENS = frozenset({"fence", "code_block", "code_inline"})


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
    if PLAIN_LEXERS:
        for token in tokens:
            if token.type == "fence" and lexer_of(token.info) in PLAIN_LEXERS:
                token.info = ""
    markdown.parsed = tokens
    return markdown


_DECODED_BY_THE_PARSER = re.compile(r"&[#A-Za-z]|<[^<>\s]*%|\r")
"""What the parser may turn into characters the text does not hold: entities (``&#27;``, ``&zwj;``), an
autolink's percent escapes (``<http://x/%1B>``: no ``<``, ``>`` or space inside, so that a search from each
``<`` stops at the next one), and CR LF."""


def _may_hold_unsafe(text: str) -> bool:
    """Whether the tokens parsed from ``text`` may hold a character to sanitise (two searches at C speed: most
    replies have none, and sanitising every token is a cost worth skipping)."""
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
            lines = lines or LINE_BREAK.split(text)
            if row_cells(lines[token.map[0]]) > columns:
                return _EXTRA_CELLS
        elif kind == "table_close":
            columns = 0
    return ""


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
    parser, the code highlighter and its theme."""
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
    highlighted within :data:`~kimi_repl.lexing.HIGHLIGHT_SECONDS`, or drawn plain."""
    if "```" not in text and "~~~" not in text and "    " not in text:  # no code: nothing to highlight
        return _markdown_lines_once(console, text, options)
    try:
        with highlight_limit():
            return _markdown_lines_once(console, text, options)
    except SlowHighlight:
        PLAIN_LEXERS.update(fence_lexers(text))
        return _markdown_lines_once(console, text, options)


def _markdown_lines_once(console: Console, text: str, options: ConsoleOptions) -> tuple[list[list[Segment]], str]:
    markdown = chat_markdown(text)
    why = _why_not_drawn(markdown.parsed, text, options.max_width)
    if why:
        return [], why
    lines: list[list[Segment]] = []
    blank = True  # at the start, as after a blank line: a blank line here is dropped
    for line in console.render_lines(markdown, options, pad=False):
        if is_blank(line):
            if not blank:
                lines.append([])
            blank = True
        else:
            lines.append(without_padding(line))
            blank = False
    if lines and not lines[-1]:
        lines.pop()
    return lines, ""


def _as_written(console: Console, text: str, why: str, options: ConsoleOptions) -> list[list[Segment]]:
    """``text`` as plain text, marked as code is, after ``why`` (dim)."""
    from rich.text import Text

    return note_lines(console, why, options) + lines_of(console, Text(marked(text.strip("\n"))), options)


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
