"""Untrusted markdown as HTML that can run nothing and load nothing: the replies of a saved page.

The text is parsed with markdown-it (raw HTML off: a tag in a reply is text) and every token is written by this
module from a fixed set of elements, never from the token's own tag or attributes: text is escaped, and
control, bidi and invisible characters show as markers (:func:`~kimi_repl.sanitize.marked`), as on the
terminal. A link shows its text, then its target as text when they differ; a picture the markdown points at
shows as its description and address: nothing on the page points anywhere. Code is highlighted by pygments into
spans with classes, within a time limit for the whole page (:mod:`kimi_repl.lexing`); past it, code is plain.
Every pass is linear in the size of the text.
"""

from __future__ import annotations

import functools
import html
import time
from typing import TYPE_CHECKING, Any

from kimi_repl.lexing import PLAIN_LEXERS, SlowHighlight, highlight_limit, lexer_of
from kimi_repl.markdown_loss import left_out
from kimi_repl.sanitize import marked

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

PAGE_HIGHLIGHT_SECONDS = 5.0
"""The longest a page may spend highlighting code, all blocks together; the blocks after are plain."""
HIGHLIGHT_CHARS = 200_000
"""A code block longer than this is plain: its highlighted form would be several times its size."""

_BLOCK_TAGS = {
    "paragraph": "p",
    "blockquote": "blockquote",
    "bullet_list": "ul",
    "list_item": "li",
    "thead": "thead",
    "tbody": "tbody",
    "tr": "tr",
}
_INLINE_TAGS = {"em": "em", "strong": "strong", "s": "del"}
_ALIGNED = {
    "text-align:left": ' class="left"',
    "text-align:center": ' class="center"',
    "text-align:right": ' class="right"',
}


def escaped(text: str) -> str:
    """Untrusted text as HTML text (or an attribute's value): escaped, its unsafe characters as markers."""
    return html.escape(marked(text), quote=True)


@functools.cache
def _parser() -> MarkdownIt:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
        ["table", "strikethrough"]
    )


class Highlighter:
    """Code blocks as highlighted HTML, for one page: within :data:`PAGE_HIGHLIGHT_SECONDS` all together, each
    within :data:`~kimi_repl.lexing.HIGHLIGHT_SECONDS` (a language that runs out of time is plain from then on)."""

    def __init__(self, seconds: float = PAGE_HIGHLIGHT_SECONDS) -> None:
        self.seconds_left = seconds

    def code(self, code: str, info: str) -> str:
        """``code`` (a fence's, with its info string) as the inside of a ``<code>`` element."""
        text = marked(code)
        name = lexer_of(info)
        lexer = None
        if self.seconds_left > 0 and name not in PLAIN_LEXERS and name != "text" and len(text) <= HIGHLIGHT_CHARS:
            lexer = _lexer(name)  # outside the time limit: finding one imports modules, and must not be cut short
        if lexer is None:
            return html.escape(text, quote=False)
        from pygments import highlight
        from pygments.formatters import HtmlFormatter

        began = time.monotonic()
        try:
            with highlight_limit():
                return str(highlight(text, lexer, HtmlFormatter(nowrap=True)))
        except SlowHighlight:
            PLAIN_LEXERS.add(name)
            return html.escape(text, quote=False)
        finally:
            self.seconds_left -= time.monotonic() - began


def _lexer(name: str) -> Any:
    """pygments' lexer for the language ``name``, or None when it knows none."""
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        return get_lexer_by_name(name, stripnl=False, ensurenl=False)
    except (ClassNotFound, ValueError):
        return None


def _target(token: Token, name: str, parser: MarkdownIt) -> str:
    """Where a link or picture points, as a person reads it, with its title if it has one."""
    target = parser.normalizeLinkText(str(token.attrs.get(name, "")))
    title = token.attrs.get("title")
    return f"{target} “{title}”" if title else target


def code_block(code: str, info: str, highlighter: Highlighter) -> str:
    """A fenced or indented code block: it scrolls sideways, its info string (the language) above it."""
    label = f'<div class="lang">{escaped(info.strip())}</div>' if info.strip() else ""
    return f'<div class="code-block">{label}<pre class="code"><code>{highlighter.code(code, info)}</code></pre></div>\n'


def plain_text(text: str) -> str:
    """Text shown as it was typed (its line breaks kept by the style ``white-space: pre-wrap``)."""
    return f'<div class="plain">{escaped(text)}</div>\n'


def markdown_html(text: str, highlighter: Highlighter) -> str:
    """``text`` (a reply: untrusted markdown) as HTML."""
    parser = _parser()
    env: dict[str, Any] = {}
    text = text.replace("\0", "⟨U+0000⟩")  # the parser would make it U+FFFD, which says nothing
    tokens = parser.parse(text, env)
    why = left_out(tokens, text, parser.options.maxNesting)
    if why:  # the parser would leave some of it out: shown as written, all of it
        return f'<p class="note">Shown as written ({why}):</p>\n' + plain_text(text)
    parts = [_block(token, highlighter, parser) for token in tokens]
    defined = env.get("references")
    if isinstance(defined, dict) and defined:  # "[name]: target" lines: the parser keeps them out of the text
        parts.append(_references(defined, parser))
    return "".join(parts)


def _references(defined: dict[str, Any], parser: MarkdownIt) -> str:
    """The link references a reply defined, as a list of text (they show nowhere else)."""
    items = []
    for name, reference in defined.items():
        target = parser.normalizeLinkText(str(reference.get("href", ""))) if isinstance(reference, dict) else ""
        title = reference.get("title") if isinstance(reference, dict) else ""
        said = f"[{name}]: {target}" + (f" “{title}”" if title else "")
        items.append(f"<li>{escaped(said)}</li>\n")
    return f'<div class="note">Link references:<ul>\n{"".join(items)}</ul></div>\n'


def _block(token: Token, highlighter: Highlighter, parser: MarkdownIt) -> str:
    kind, _, side = token.type.rpartition("_")
    if token.type == "inline":
        return _inline(token.children or [], parser)
    if token.type in ("fence", "code_block"):
        return code_block(token.content, token.info if token.type == "fence" else "", highlighter)
    if token.type == "hr":
        return "<hr>\n"
    if side not in ("open", "close"):  # html_block (raw HTML is off) or a token of no known kind: its text
        return f"<p>{escaped(token.content)}</p>\n" if token.content else ""
    if token.hidden:  # the paragraphs of a tight list
        return ""
    slash = "/" if side == "close" else ""
    if kind == "heading":  # below the page's own headings: the title, then each turn
        level = min(6, int(token.tag[1:]) + 2) if token.tag[1:].isdigit() else 6
        return f"<{slash}h{level}>" + ("\n" if slash else "")
    if kind == "ordered_list":
        start = token.attrs.get("start") if side == "open" else None
        number = f' start="{start}"' if isinstance(start, int) and not isinstance(start, bool) else ""
        return f"<{slash}ol{number}>\n"
    if kind == "table":
        return '<div class="table"><table>\n' if side == "open" else "</table></div>\n"
    if kind in ("th", "td"):
        aligned = _ALIGNED.get(str(token.attrs.get("style", ""))) if side == "open" else ""
        return f"<{slash}{kind}{aligned or ''}>" + ("\n" if slash else "")
    tag = _BLOCK_TAGS.get(kind)
    return f"<{slash}{tag}>" + ("\n" if slash else "") if tag else ""


def _inline(children: list[Token], parser: MarkdownIt) -> str:
    parts: list[str] = []
    links: list[tuple[str, int]] = []  # each open link's target, and where its text begins in ``said``
    said: list[str] = []  # the link's text, as shown
    for token in children:
        kind, _, side = token.type.rpartition("_")
        if token.type in ("text", "html_inline"):
            parts.append(escaped(token.content))
            said.append(token.content)
        elif token.type in ("softbreak", "hardbreak"):  # the line breaks the model wrote, as on the terminal
            parts.append("<br>\n")
            said.append("\n")
        elif token.type == "code_inline":
            parts.append(f"<code>{escaped(token.content)}</code>")
            said.append(token.content)
        elif token.type == "image":
            target = _target(token, "src", parser)
            parts.append(f'<span class="image">🖼 {escaped(token.content or "picture")} ({escaped(target)})</span>')
        elif kind == "link" and side == "open":
            links.append((_target(token, "href", parser), len(said)))
            parts.append('<span class="link">')
        elif kind == "link" and side == "close" and links:
            target, begins = links.pop()
            shown = "".join(said[begins:]).strip()
            after = (
                ""
                if token.markup == "autolink" or shown == target
                else f' <span class="url">({escaped(target)})</span>'
            )
            parts.append("</span>" + after)
        elif kind in _INLINE_TAGS and side in ("open", "close"):
            parts.append(f"<{'/' if side == 'close' else ''}{_INLINE_TAGS[kind]}>")
        elif token.content:
            parts.append(escaped(token.content))
            said.append(token.content)
    return "".join(parts)
