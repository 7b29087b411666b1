"""The conversation as one web page to share (``/save NAME.html``): self-contained, safe to open, for people only.

One file: the style is inline, pictures are ``data:`` URLs, and there is no script, no form, no link to
anywhere. Everything from a model, a user or a file is escaped (replies are rendered by
:mod:`kimi_repl.page_markdown`), so a hostile reply can neither run script nor make the page load anything;
a strict Content-Security-Policy says the same to the browser, in case. It reads on a phone (the code blocks and
tables scroll sideways) and follows the reader's light or dark setting. Chinese, Japanese and Korean text gets
fonts that have it. It is not read back: the Markdown and JSON forms are for /load.
"""

from __future__ import annotations

import functools
import re

from kimi_repl import __version__, facts
from kimi_repl.conversation import Conversation, Image, Turn
from kimi_repl.page_markdown import Highlighter, escaped, markdown_html, plain_text
from kimi_repl.records import IMAGE_TYPES

POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
"""The page may use its own style and ``data:`` pictures, and nothing else."""

_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")

_STYLE = """
:root { color-scheme: light dark; --text: #1f2328; --muted: #59636e; --line: #d1d9e0; --back: #ffffff;
  --user: #f0f5ff; --quiet: #f6f8fa; --mark: #9a6700; }
@media (prefers-color-scheme: dark) {
  :root { --text: #e6edf3; --muted: #9198a1; --line: #3d444d; --back: #0d1117; --user: #15233a;
    --quiet: #151b23; --mark: #d29922; }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
body { margin: 0 auto; max-width: 52rem; padding: 1rem; background: var(--back); color: var(--text);
  font: 16px/1.6 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "Noto Sans", "PingFang SC",
  "Hiragino Sans", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", "Source Han Sans SC",
  "WenQuanYi Micro Hei", "Apple SD Gothic Neo", "Malgun Gothic", sans-serif, "Apple Color Emoji",
  "Segoe UI Emoji"; overflow-wrap: anywhere; }
h1 { font-size: 1.5rem; line-height: 1.3; margin: .5rem 0 1rem; }
h2 { font-size: 1rem; margin: 0 0 .5rem; color: var(--muted); font-weight: 600; }
h2 .who { color: var(--text); }
h2 a { color: inherit; text-decoration: none; }
h3, h4, h5, h6 { line-height: 1.3; margin: 1.2rem 0 .5rem; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: 0 0 1rem;
  color: var(--muted); font-size: .9rem; }
.facts dt { font-weight: 600; }
.facts dd { margin: 0; }
.facts blockquote { margin: 0; }
.turn { border-top: 1px solid var(--line); padding: 1rem 0; }
.turn.user .plain { background: var(--user); border-radius: .5rem; padding: .5rem .75rem; }
.plain { white-space: pre-wrap; }
.note, .searched, .image, .url { color: var(--muted); }
.link { text-decoration: underline dotted; }
.note { font-size: .9rem; font-style: italic; }
.mark { color: var(--mark); font-weight: 600; }
details { margin: .5rem 0; border-left: 3px solid var(--line); padding: 0 .75rem; }
details > summary { cursor: pointer; color: var(--muted); }
details .plain { color: var(--muted); font-size: .95rem; }
blockquote { margin: .5rem 0; padding: 0 1rem; border-left: 3px solid var(--line); color: var(--muted); }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", "Noto Sans Mono CJK SC",
  monospace; font-size: .9em; }
:not(pre) > code { background: var(--quiet); border-radius: .3rem; padding: .1em .3em; }
.code-block { margin: .75rem 0; }
.lang { font-size: .8rem; color: var(--muted); }
pre { overflow-x: auto; padding: .75rem; border-radius: .4rem; background: var(--quiet); line-height: 1.45;
  overflow-wrap: normal; }
pre.output { max-height: 30rem; }
.table { overflow-x: auto; margin: .75rem 0; }
table { border-collapse: collapse; }
th, td { border: 1px solid var(--line); padding: .3rem .6rem; overflow-wrap: normal; }
.left { text-align: left; } .center { text-align: center; } .right { text-align: right; }
figure { margin: .5rem 0; }
figure img { max-width: 100%; height: auto; border-radius: .4rem; }
figcaption { font-size: .85rem; color: var(--muted); }
footer { border-top: 1px solid var(--line); padding-top: .75rem; color: var(--muted); font-size: .8rem; }
@media (max-width: 40rem) { body { padding: .75rem; font-size: 15px; } .facts { grid-template-columns: 1fr; }
  .facts dd { margin-bottom: .3rem; } }
"""


@functools.cache
def style() -> str:
    """The page's style sheet: its own, then the code colours (light, and dark where the reader prefers it)."""
    from pygments.formatters import HtmlFormatter

    light = "\n".join(HtmlFormatter(style="default").get_token_style_defs(".code"))
    dark = "\n".join(HtmlFormatter(style="monokai").get_token_style_defs(".code"))
    return f"{_STYLE}{light}\n@media (prefers-color-scheme: dark) {{\n{dark}\n}}\n"


def to_html(conversation: Conversation) -> str:
    """The page: a title, the settings that were in force, then every turn."""
    title = escaped(facts.title(conversation))
    parts = [
        "<!DOCTYPE html>\n<html>\n<head>\n",
        '<meta charset="utf-8">\n',
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">\n',
        '<meta name="referrer" content="no-referrer">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        '<meta name="color-scheme" content="light dark">\n',
        f'<meta name="generator" content="kimi-repl {escaped(__version__)}">\n',
        f"<title>{title}</title>\n<style>{style()}</style>\n</head>\n<body>\n",
        f"<header>\n<h1>{title}</h1>\n{_facts(conversation)}</header>\n<main>\n",
    ]
    highlighter = Highlighter()
    previous: Turn | None = None
    for number, (turn, when) in enumerate(zip(conversation.turns, facts.times(conversation), strict=True), 1):
        if number == conversation.context_start + 1 and conversation.context_start:
            parts.append('<p class="note">The turns above were compacted away (/compact): not sent any more.</p>\n')
        parts.append(_turn(turn, number, when, previous, conversation, highlighter))
        previous = turn if turn.role == "user" else previous
    parts.append(f"</main>\n<footer>Saved with kimi-repl {escaped(__version__)}.</footer>\n</body>\n</html>\n")
    return "".join(parts)


def _facts(conversation: Conversation) -> str:
    rows = []
    for fact in facts.facts(conversation):
        value = f"<blockquote>{plain_text(fact.value)}</blockquote>" if fact.quoted else escaped(fact.value)
        rows.append(f"<dt>{escaped(fact.label)}</dt>\n<dd>{value}</dd>\n")
    return f'<dl class="facts">\n{"".join(rows)}</dl>\n'


def _turn(
    turn: Turn, number: int, when: str, previous: Turn | None, conversation: Conversation, highlighter: Highlighter
) -> str:
    anchor = f"turn-{number}"
    who = "You" if turn.role == "user" else f"Kimi · {turn.credit}"
    notes = [f'<a href="#{anchor}">{escaped(when)}</a>'] if when else []
    notes += [escaped(note) for note in facts.changes(turn, previous, conversation)]
    notes += [f'<span class="mark">{escaped(mark)}</span>' for mark in facts.marks(turn)]
    heading = " · ".join([f'<span class="who">{escaped(who)}</span>', *notes])
    parts = [f'<article class="turn {turn.role}" id="{anchor}">\n<h2>{heading}</h2>\n']
    for output in turn.outputs:
        status = "could not start" if output.status is None else f"exit status {output.status}"
        cut = f"; {output.cut:,} bytes left out of the middle" if output.cut else ""
        summary = f"$ {escaped(' '.join(output.command.split()))} ({status}{cut})"
        parts.append(f'<details class="output"><summary>{summary}</summary>\n')
        # A newline right after <pre> is dropped by HTML parsers: this one, not the output's own first.
        parts.append(f'<pre class="output">\n{escaped(output.text)}</pre></details>\n')
    if turn.reasoning_content:
        parts.append(
            f'<details class="thinking"><summary>Thinking</summary>\n{plain_text(turn.reasoning_content)}</details>\n'
        )
    if turn.searches:
        queries = "; ".join(escaped(search.get("query") or "…") for search in turn.searches)
        parts.append(f'<p class="searched">🔍 Searched the web: {queries}</p>\n')
    if turn.role == "user":
        parts.append(plain_text(turn.content) if turn.content else "")
    else:
        parts.append(markdown_html(turn.content, highlighter))
    parts += [_picture(image) for image in turn.images]
    parts.append("</article>\n")
    return "".join(parts)


def _picture(image: Image) -> str:
    """A picture sent with a message, in the page as a ``data:`` URL (only a type kimi-repl takes, and base64)."""
    name = escaped(image.name)
    if image.mime not in IMAGE_TYPES or not image.data or not _BASE64.fullmatch(image.data):
        return f'<p class="note">🖼 {name} (the picture is not in this transcript)</p>\n'
    picture = f'<img src="data:{image.mime};base64,{image.data}" alt="{name}">'
    return f"<figure>{picture}<figcaption>{name}</figcaption></figure>\n"
