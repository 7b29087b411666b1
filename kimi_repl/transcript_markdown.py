"""The Markdown transcript: a conversation to read, raw or rendered, that /load reads back to the same turns.

What a reader sees is the conversation: a title, a short list of the settings that were in force
(:mod:`kimi_repl.facts`), then each turn under a heading (``## You · 10:11:12``, ``## Kimi · kimi-k2.6 ·
10:11:14``), a reply's reasoning folded in a ``<details>`` section above it. Everything else /load needs (the
settings, the documents' text, each turn's usage, times and flags) is in one HTML comment at the end of the file,
one JSON object a line, which rendered Markdown hides. The first line is a short comment naming the format.

No content can forge structure: the file is read line by line, and a line of text that would read as a turn's
heading or as one of our comments is written with a backslash before it (taken off again on reading); in
reasoning, ``</details`` is written ``⟨U+003C⟩/details``. The metadata's JSON holds no line break and no ``>``
(it is written ``\\u003e``), so nothing in it ends the comment early. Reading is one pass over the lines.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any

from kimi_repl import facts
from kimi_repl.conversation import Conversation, Turn
from kimi_repl.records import TranscriptError, turn_record
from kimi_repl.sanitize import escape_for_file, json_dumps, unescape_from_file
from kimi_repl.transcript_format import VERSION, conversation_from_document, header_record
from kimi_repl.transcript_markdown_v2 import comment_data, read_v2

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

HEAD = "<!-- kimi-repl:transcript "
"""How the first line of every Markdown transcript begins."""
_METADATA = "<!-- kimi-repl:metadata"
_METADATA_END = "-->"
_METADATA_NOTE = ": what /load reads back, one JSON object a line: the conversation, then each turn"
_HEADING = re.compile("## (You|Kimi)(?: · |[ \t]*$)")
_ESCAPED = re.compile(r"\\*(?:<!-- kimi-repl:|## (?:You|Kimi)(?: · |[ \t]*$))")
_ESCAPED_IN_FILE = re.compile(r"\\+(?:<!-- kimi-repl:|## (?:You|Kimi)(?: · |[ \t]*$))")
_THINKING_OPEN = "<details><summary>Thinking</summary>"
_THINKING_CLOSE = "</details>"
_DETAILS_END = re.compile("<(?=/details)", re.IGNORECASE)
_ROLES = {"You": "user", "Kimi": "assistant"}


def _comment_json(data: dict[str, Any]) -> str:
    # ">" only occurs inside strings, where \u003e means the same: this keeps "-->" out of the comment.
    return json_dumps(data).replace(">", "\\u003e")


def _escape(text: str, *, folded: bool = False) -> str:
    """Text as the file holds it: unsafe characters as visible markers, a backslash before every line that would
    read as a heading or a comment of ours, and (``folded``: inside ``<details>``) ``</details`` made inert."""
    text = escape_for_file(text)
    if folded:
        text = _DETAILS_END.sub("⟨U+003C⟩", text)
    if "## " not in text and "<!-- kimi-repl:" not in text:
        return text
    return "\n".join("\\" + line if _ESCAPED.match(line) else line for line in text.split("\n"))


def _unescape(text: str) -> str:
    """The inverse of :func:`_escape`."""
    if "\\" in text:
        text = "\n".join(line[1:] if _ESCAPED_IN_FILE.match(line) else line for line in text.split("\n"))
    return unescape_from_file(text)


_MAY_STAY_OPEN = re.compile(r"^ {0,3}(?:```|~~~|<)", re.MULTILINE)
"""A line that may begin what runs on to the end of the text: a code fence, or raw HTML."""
_RAW_HTML = re.compile(
    r" {0,3}<(?:(script|pre|style|textarea)(?=[\s>]|$)|(!--)|(\?)|(!\[CDATA\[)|(![A-Za-z]))", re.IGNORECASE
)
_RAW_HTML_ENDS = ("", "-->", "?>", "]]>", ">")
"""What ends each kind of raw HTML that runs on past blank lines (CommonMark's kinds 2 to 5; kind 1 by its tag)."""


@functools.cache
def _block_parser() -> MarkdownIt:
    """A CommonMark parser of blocks, raw HTML on, as GitHub reads a Markdown file."""
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark", {"html": True})
    parser.core.ruler.disable("inline")
    return parser


def _left_open(text: str) -> str:
    """The line that closes what ``text`` leaves open at its end, as a renderer reads it (a code fence, or raw HTML
    that runs on until its end marker: a reply cut short), so that the turns after it still show as turns; ""
    when nothing is left open. One parse of ``text``, and only when a line may begin such a thing."""
    if not _MAY_STAY_OPEN.search(text):
        return ""
    tokens = _block_parser().parse(text + "\n\n## .\n")  # a heading as the next turn's
    if len(tokens) >= 3 and tokens[-3].type == "heading_open" and tokens[-3].level == 0:
        return ""
    last = next((token for token in reversed(tokens) if token.level == 0), None)
    if last is not None and last.type == "fence":
        return last.markup
    raw = _RAW_HTML.match(last.content) if last is not None and last.type == "html_block" else None
    kind = raw.lastindex if raw is not None else None
    if raw is None or kind is None:
        return ""
    return f"</{raw.group(1).lower()}>" if kind == 1 else _RAW_HTML_ENDS[kind - 1]


def _closed(text: str, name: str, closers: dict[str, str]) -> str:
    """``text`` with what it leaves open closed after it; the closing line noted in ``closers`` under ``name``."""
    closer = _left_open(text)
    if not closer:
        return text
    closers[name] = closer
    return f"{text}\n{closer}"


def _unclosed(text: str, closer: Any) -> str:
    """The inverse of :func:`_closed`."""
    if isinstance(closer, str) and closer and text.endswith("\n" + closer):
        return text[: -len(closer) - 1]
    return text


# -- writing ---------------------------------------------------------------------------------------


def _inline(text: str) -> str:
    """Text from a user, a model or a file, on one line of Markdown as it is: nothing in it is markup."""
    return re.sub(r"([\\`*_\[\]<>&|~#])", r"\\\1", escape_for_file(" ".join(text.split())))


def _code(text: str) -> str:
    """Text as one inline code span, on one line."""
    text = escape_for_file(" ".join(text.split()))
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.split("\n"))


def to_markdown(conversation: Conversation) -> str:
    """A Markdown transcript to read, which :func:`from_markdown` reads back to the same conversation."""
    lines = [f"{HEAD}{_comment_json({'format': 'kimi-repl-transcript', 'version': VERSION})} -->"]
    lines += [f"# {_inline(facts.title(conversation))}", ""]
    for fact in facts.facts(conversation):
        if fact.quoted:
            lines += [f"- **{fact.label}:**", "", _quote(escape_for_file(fact.value)), ""]
            continue
        note = "; their text is kept at the end of this file, for /load" if fact.label == "Documents" else ""
        value = _code(fact.value) if fact.label == "Session" else _inline(fact.value)
        lines.append(f"- **{fact.label}:** {value}{note}")
    if lines[-1]:
        lines.append("")
    records = [_comment_json(header_record(conversation, VERSION))]
    previous: Turn | None = None
    for turn, when in zip(conversation.turns, facts.times(conversation), strict=True):
        closers: dict[str, str] = {}
        body = _closed(_escape(turn.content), "content", closers)
        if turn.reasoning_content:
            thinking = _closed(_escape(turn.reasoning_content, folded=True), "reasoning_content", closers)
            body = f"{_THINKING_OPEN}\n\n{thinking}\n\n{_THINKING_CLOSE}\n\n{body}"
        lines += [_heading(turn, previous, when, conversation), "", body, ""]
        records.append(_comment_json(_meta(turn, closers)))
        previous = turn if turn.role == "user" else previous
    return "\n".join([*lines, _METADATA + _METADATA_NOTE, *records, _METADATA_END, ""])


def _meta(turn: Turn, closers: dict[str, str]) -> dict[str, Any]:
    """What the metadata keeps of a turn: all but its text (and pictures' data: names, not megabytes of base64)."""
    record = turn_record(turn)
    record.pop("content")
    record.pop("reasoning_content", None)
    record["has_reasoning"] = bool(turn.reasoning_content)
    if turn.images:
        record["images"] = [{"name": image.name, "mime": image.mime, "data": ""} for image in turn.images]
    if closers:
        record["closed"] = closers
    return record


def _heading(turn: Turn, previous: Turn | None, when: str, conversation: Conversation) -> str:
    parts = ["## You" if turn.role == "user" else f"## Kimi · {_inline(turn.credit)}"]
    parts += [when] if when else []
    changes = facts.changes(turn, previous, conversation)
    parts += [f"_{_inline('; '.join(changes))}_"] if changes else []
    marks = facts.marks(turn)
    parts += [f"**{_inline(', '.join(marks))}**"] if marks else []
    if turn.images:
        parts.append("🖼 " + ", ".join(_inline(image.name) for image in turn.images))
    if turn.outputs:
        parts.append("$ output of " + "; ".join(_code(output.command) for output in turn.outputs))
    if turn.searches:
        queries = "; ".join(_inline(search.get("query") or "…") for search in turn.searches)
        parts.append(f"🔍 searched the web: {queries}")
    return " · ".join(parts)


# -- reading ---------------------------------------------------------------------------------------


def read_markdown(text: str, where: str) -> tuple[Conversation, Any]:
    """The conversation in a Markdown transcript of any version, and its header's ``redaction``.

    Raises:
        TranscriptError: the text is not a kimi-repl Markdown transcript, or is damaged.
    """
    lines = text.removeprefix("\ufeff").split("\n")
    head = lines[0].rstrip("\r")
    if not (head.startswith(HEAD) and head.endswith(" -->")):
        raise TranscriptError(f"{where} is not a kimi-repl transcript (no kimi-repl header)")
    header = comment_data(head[len(HEAD) : -4], where)
    version = header.get("version")
    if isinstance(version, int) and version <= 2:
        return read_v2(lines, header, version, where)
    if not isinstance(version, int) or version > VERSION:
        raise TranscriptError(f"{where} was written by a newer kimi-repl (format version {version})")
    if "\r" in text:  # an editor or git on Windows turned the line ends into CR LF: kimi-repl writes no CR
        lines = [line.removesuffix("\r") for line in lines]
    return _read_v3(lines, where)


def _read_v3(lines: list[str], where: str) -> tuple[Conversation, Any]:
    headings: list[tuple[int, str]] = []
    start = len(lines)
    for number in range(1, len(lines)):
        line = lines[number]
        if line.startswith("## ") and (found := _HEADING.match(line)):
            headings.append((number, _ROLES[found.group(1)]))
        elif line.startswith(_METADATA):
            start = number
            break
    records = _metadata(lines, start, where)
    header, metas = records[0], records[1:]
    if len(metas) != len(headings) or any(m.get("role") != role for m, (_, role) in zip(metas, headings, strict=True)):
        raise TranscriptError(f"{where}: its turns do not match its metadata (was it edited by hand?)")
    turns = []
    ends = [at for at, _ in headings[1:]] + [start] if headings else []
    for number, ((at, _), end, meta) in enumerate(zip(headings, ends, metas, strict=True), 1):
        if lines[at + 1] != "" or lines[end - 1] != "" or end - 1 < at + 2:
            raise TranscriptError(f"{where}, turn {number}: the blank lines around its text are missing")
        body = "\n".join(lines[at + 2 : end - 1])
        closed = meta.get("closed")
        closers: dict[str, Any] = closed if isinstance(closed, dict) else {}
        reasoning = ""
        if meta.get("has_reasoning") is True:
            reasoning, body = _split_thinking(body, f"{where}, turn {number}")
            reasoning = _unescape(_unclosed(reasoning, closers.get("reasoning_content")))
        content = _unescape(_unclosed(body, closers.get("content")))
        turns.append({**meta, "content": content, "reasoning_content": reasoning})
    return conversation_from_document({**header, "turns": turns}, where), header.get("redaction")


def _metadata(lines: list[str], start: int, where: str) -> list[dict[str, Any]]:
    """The objects of the metadata comment that begins at line ``start``: the conversation's, then the turns'."""
    if start >= len(lines):
        raise TranscriptError(f"{where}: the metadata at its end is missing (is the file cut short?)")
    records: list[dict[str, Any]] = []
    for number in range(start + 1, len(lines)):
        if lines[number] == _METADATA_END:
            if any(line.strip() for line in lines[number + 1 :]):
                raise TranscriptError(f"{where}: something follows the metadata at its end")
            if not records:
                raise TranscriptError(f"{where}: the metadata at its end is empty")
            return records
        if lines[number]:
            records.append(comment_data(lines[number], where))
    raise TranscriptError(f"{where}: the metadata at its end is not closed (is the file cut short?)")


def _split_thinking(body: str, where: str) -> tuple[str, str]:
    """A reply's reasoning and answer, from its text (reasoning holds no ``</details``: the first is ours)."""
    opening = _THINKING_OPEN + "\n\n"
    end = body.find(_THINKING_CLOSE)
    after = end + len(_THINKING_CLOSE)
    framed = body.startswith(opening) and end >= len(opening) + 2
    if not framed or body[end - 2 : end] != "\n\n" or body[after : after + 2] != "\n\n":
        raise TranscriptError(f"{where}: the thinking section is damaged")
    return body[len(opening) : end - 2], body[after + 2 :]
