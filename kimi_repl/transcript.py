"""Conversations on disk: the lossless JSON form and the readable Markdown form.

Both forms load back to the same turns. The Markdown form keeps each turn's metadata in an HTML comment
(``<!-- kimi-repl:turn {...} -->``) that renderers hide, followed by the text exactly as it was; a line of
text that would look like such a comment is escaped with a backslash, so no content can forge one.
Files are untrusted input: everything read is checked against the schema (:mod:`kimi_repl.records`), and a bad
file is refused with one line, leaving the current conversation alone.

The API key is removed from text values before anything is written (:mod:`kimi_repl.redaction`); a header
saying ``"redaction": "values"`` marks files written so. Older files had it replaced in their raw text, ids and
numbers included: with a short key they could not be read; they are repaired on loading when the key is known
(:func:`~kimi_repl.redaction.unredact`).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kimi_repl.conversation import Conversation, Turn
from kimi_repl.records import TranscriptError as TranscriptError  # where the other modules find it
from kimi_repl.records import (
    apply_settings,
    check_alternation,
    context_record,
    context_start_from,
    document_from_record,
    encode,
    moment,
    read_field,
    redacted,
    settings_record,
    turn_from_record,
    turn_record,
)
from kimi_repl.redaction import MIN_SECRET_CHARS, Secret, unredact
from kimi_repl.redaction import REDACTED as REDACTED  # where files say the key was
from kimi_repl.safefiles import byte_size, read_regular_file, write_file
from kimi_repl.sanitize import escape_for_file, json_dumps, unescape_from_file

FORMAT = "kimi-repl-transcript"
VERSION = 2
"""2: the Markdown form escapes control, bidi and invisible characters (version 1 files still load)."""
MAX_FILE_BYTES = 1024 * 1024 * 1024
REDACTION = "values"
"""How the files written now redact the key: in text values only (older files say nothing)."""

_MARK = "<!-- kimi-repl:"
_ESCAPED_MARK = re.compile(r"^(\\*)<!-- kimi-repl:")
_ANSWER = "<!-- kimi-repl:answer -->"
_THINKING_OPEN = "<details><summary>Thinking</summary>\n\n"
_THINKING_CLOSE = "\n\n</details>\n"


def to_json(conversation: Conversation) -> str:
    """The lossless JSON transcript."""
    document = {
        "format": FORMAT,
        "version": VERSION,
        "redaction": REDACTION,
        "id": conversation.id,
        "created": conversation.created,
        **settings_record(conversation),
        **context_record(conversation),
        "turns": [turn_record(turn) for turn in conversation.turns],
    }
    return json_dumps(document, indent=1) + "\n"


def from_json(text: str, where: str, *, key: str | None = None) -> Conversation:
    """Read a JSON transcript written by :func:`to_json` (one written by an older kimi-repl with the short ``key``
    is repaired: see :func:`repaired`).

    Raises:
        TranscriptError: not JSON, or not a kimi-repl transcript.
    """
    return repaired(_from_json, text, where, key)


def _from_json(text: str, where: str) -> tuple[Conversation, Any]:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise TranscriptError(f"{where} is not valid JSON ({error})") from None
    return _conversation_from_document(document, where), document.get("redaction")


OLD_REDACTION = (
    "an older kimi-repl wrote '[API key removed]' in place of a short API key everywhere in it: run kimi-repl "
    "with that key in MOONSHOT_API_KEY to repair it"
)


def repaired(
    read: Callable[[str, str], tuple[Conversation, Any]], text: str, where: str, key: str | None
) -> Conversation:
    """What ``read`` makes of ``text``, a transcript; if an older kimi-repl wrote it with ``key`` (a short key,
    replaced everywhere in the text), what it makes of the text with the key put back.

    ``read`` returns the conversation and the header's ``redaction``: a file that says how it was redacted is
    never repaired.

    Raises:
        TranscriptError: the text cannot be read, repaired or not.
    """
    try:
        conversation, redaction = read(text, where)
    except TranscriptError as error:
        failure: TranscriptError | None = error
    else:
        if redaction == REDACTION:
            return conversation
        failure = None
    restored = unredact(text, key) if key and len(key) < MIN_SECRET_CHARS else None
    if restored is not None:
        try:
            return read(restored, where)[0]
        except TranscriptError:
            pass
    if failure is None:
        return conversation
    if REDACTED in text:
        raise TranscriptError(f"{failure}; {OLD_REDACTION}") from None
    raise failure


def _conversation_from_document(data: Any, where: str) -> Conversation:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise TranscriptError(f"{where} is not a kimi-repl transcript")
    version = data.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise TranscriptError(f"{where} was written by a newer kimi-repl (format version {version})")
    raw_turns = data.get("turns")
    if not isinstance(raw_turns, list):
        raise TranscriptError(f"{where} has no list of turns")
    conversation = Conversation(model="")
    apply_settings(conversation, data, where)
    conversation.id = read_field(data, "id", (str,), conversation.id, where)
    conversation.created = moment(read_field(data, "created", (int, float), conversation.created, where))
    conversation.turns = [turn_from_record(item, f"{where}, turn {n}") for n, item in enumerate(raw_turns, 1)]
    check_alternation(conversation.turns, where)
    raw_documents = data.get("documents", [])
    if not isinstance(raw_documents, list):
        raise TranscriptError(f"{where}: 'documents' is not a list")
    conversation.documents = [document_from_record(d, f"{where}, document {n}") for n, d in enumerate(raw_documents, 1)]
    conversation.context_start = context_start_from(data, len(conversation.turns), where)
    return conversation


# -- Markdown --------------------------------------------------------------------------------------


def _comment_json(data: dict[str, Any]) -> str:
    # ">" only occurs inside strings, where \u003e means the same: this keeps "-->" out of the comment.
    return json_dumps(data).replace(">", "\\u003e")


def _escape(text: str) -> str:
    """Text as written in the Markdown form: unsafe characters as visible markers, and a backslash before every
    line that would read as one of our markers."""
    lines = escape_for_file(text).split("\n")
    return "\n".join("\\" + line if _ESCAPED_MARK.match(line) else line for line in lines)


_CLOSED = "<!-- kimi-repl:closed -->"
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def _closed(text: str) -> str:
    """``text`` with a code fence it leaves open (a reply cut short) closed after it, and a marker saying so, so
    that the turns after it still read as turns; :func:`_unclosed` takes both off again."""
    fence = ""
    for line in text.split("\n"):
        found = _FENCE.match(line)
        if found is None:
            continue
        run = found.group(1)
        if not fence:
            fence = run if "`" not in line[found.end() :] or run[0] == "~" else ""
        elif run[0] == fence[0] and len(run) >= len(fence) and not line[found.end() :].strip():
            fence = ""
    return f"{text}\n{fence}\n{_CLOSED}" if fence else text


def _unclosed(text: str) -> str:
    """The inverse of :func:`_closed`."""
    if not text.endswith("\n" + _CLOSED):
        return text
    body, _, fence = text[: -len(_CLOSED) - 1].rpartition("\n")
    return body if _FENCE.match(fence) else text


def _unescape(text: str, version: int) -> str:
    lines = "\n".join(line[1:] if _ESCAPED_MARK.match(line) else line for line in text.split("\n"))
    return unescape_from_file(lines) if version >= 2 else lines


def _clock(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def _quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.split("\n"))


def to_markdown(conversation: Conversation) -> str:
    """A readable Markdown transcript that :func:`from_markdown` reads back to the same turns."""
    turns = conversation.turns
    models = list(dict.fromkeys(t.model for t in turns if t.model)) or [conversation.model]
    temperatures = list(dict.fromkeys(t.temperature for t in turns)) or [conversation.temperature]
    header = {
        "format": FORMAT,
        "version": VERSION,
        "redaction": REDACTION,
        "id": conversation.id,
        "created": conversation.created,
        **settings_record(conversation),
        **context_record(conversation),
    }
    lines = [
        f"{_MARK}transcript {_comment_json(header)} -->",
        "# Conversation with Kimi",
        "",
        f"- **Date:** {_clock(turns[0].created if turns else conversation.created)}",
        f"- **Model{'s' if len(models) > 1 else ''}:** {', '.join(models)}",
        "- **Temperature:** " + ", ".join("model default" if t is None else f"{t:g}" for t in temperatures),
        f"- **Session:** `{conversation.id}`",
    ]
    if conversation.thinking is not None:
        lines.append(f"- **Thinking:** {_on_off(conversation.thinking)} (for models that can switch)")
    if conversation.documents:
        names = ", ".join(f"`{' '.join(escape_for_file(d.name).split())}`" for d in conversation.documents)
        size = byte_size(sum(len(d.content.encode("utf-8", "replace")) for d in conversation.documents))
        # Said where a reader sees it: the text rides in the header comment, which rendered Markdown hides.
        lines.append(f"- **Documents:** {names} (their text, {size}, is in this file's first line, for /load)")
    if conversation.context_start:
        lines.append(f"- **Not sent any more** (dropped to fit the window): turns 1 to {conversation.context_start}")
    if conversation.system:
        lines += ["- **System prompt:**", "", _quote(escape_for_file(conversation.system))]
    lines += ["", "---", ""]
    previous: Turn | None = None
    for turn in turns:
        lines.append(f"{_MARK}turn {_comment_json(_meta(turn))} -->")
        lines.append(_heading(turn, previous))
        lines.append("")
        body = _closed(_escape(turn.content))
        if turn.reasoning_content:
            thinking = _closed(_escape(turn.reasoning_content))
            body = _THINKING_OPEN + thinking + _THINKING_CLOSE + _ANSWER + "\n\n" + body
        lines.append(body)
        lines.append("")
        previous = turn if turn.role == "user" else previous
    return "\n".join(lines)


def _meta(turn: Turn) -> dict[str, Any]:
    record = turn_record(turn)
    record.pop("content")
    record.pop("reasoning_content", None)
    record["has_reasoning"] = bool(turn.reasoning_content)
    if turn.images:  # the Markdown form keeps the names only: a placeholder, not megabytes of base64
        record["images"] = [{"name": image.name, "mime": image.mime, "data": ""} for image in turn.images]
    return record


def _on_off(choice: bool | None) -> str:
    return "model default" if choice is None else "on" if choice else "off"


def _heading(turn: Turn, previous: Turn | None) -> str:
    return " ".join(_heading_text(turn, previous).split())  # one line, whatever a loaded model name holds


def _heading_text(turn: Turn, previous: Turn | None) -> str:
    when = time.strftime("%H:%M:%S", time.localtime(turn.created))
    if turn.role == "user":
        changes = []
        if previous is not None:
            if turn.model != previous.model:
                changes.append(f"model → {turn.model}")
            if turn.temperature != previous.temperature:
                changes.append(f"temperature → {turn.temperature}")
            if turn.system != previous.system:
                changes.append("system prompt changed" if turn.system else "system prompt removed")
            if turn.thinking != previous.thinking:
                changes.append(f"thinking {_on_off(turn.thinking)}")
        note = f" · _{'; '.join(changes)}_" if changes else ""
        pictures = f" · 🖼 {', '.join(escape_for_file(image.name) for image in turn.images)}" if turn.images else ""
        ran = "; ".join(f"`{escape_for_file(' '.join(o.command.split()))}`" for o in turn.outputs)
        outputs = f" · $ output of {ran}" if ran else ""
        return f"### You · {when}{note}{pictures}{outputs}"
    marks = [m for m, on in (("interrupted", turn.interrupted), ("incomplete", turn.incomplete)) if on]
    note = f" · **{', '.join(marks)}**" if marks else ""
    queries = [escape_for_file(search.get("query") or "…") for search in turn.searches]
    searched = f" · 🔍 searched the web: {'; '.join(queries)}" if queries else ""
    return f"### Kimi · {turn.credit} · {when}{note}{searched}"


def from_markdown(text: str, where: str, *, key: str | None = None) -> Conversation:
    """Read a Markdown transcript written by :func:`to_markdown` (one written by an older kimi-repl with the short
    ``key`` is repaired: see :func:`repaired`).

    Raises:
        TranscriptError: the text is not a kimi-repl Markdown transcript.
    """
    return repaired(_from_markdown, text, where, key)


def _from_markdown(text: str, where: str) -> tuple[Conversation, Any]:
    lines = text.removeprefix("\ufeff").split("\n")
    head = lines[0]
    prefix = f"{_MARK}transcript "
    if not (head.startswith(prefix) and head.endswith(" -->")):
        raise TranscriptError(f"{where} is not a kimi-repl transcript (no kimi-repl header)")
    header = _parse_comment(head[len(prefix) : -4], where)
    version = header["version"] if isinstance(header.get("version"), int) else VERSION
    sections: list[tuple[dict[str, Any], list[str]]] = []
    turn_prefix = f"{_MARK}turn "
    for line in lines[1:]:
        if line.startswith(turn_prefix) and line.endswith(" -->"):
            sections.append((_parse_comment(line[len(turn_prefix) : -4], where), []))
        elif sections:
            sections[-1][1].append(line)
    turns = []
    for number, (meta, body_lines) in enumerate(sections, 1):
        place = f"{where}, turn {number}"
        # After the heading and its blank line; the section's last "\n" is the separator we wrote.
        body = "\n".join(body_lines[2:]).removesuffix("\n")
        reasoning = ""
        if meta.get("has_reasoning") is True:
            thinking, marker, body = body.partition("\n" + _ANSWER + "\n\n")
            if not marker:
                raise TranscriptError(f"{place}: the thinking section is not closed")
            thinking = thinking.removeprefix(_THINKING_OPEN).removesuffix(_THINKING_CLOSE.rstrip("\n"))
            reasoning = _unescape(_unclosed(thinking), version)
        content = _unescape(_unclosed(body), version)
        turns.append(turn_from_record({**meta, "content": content, "reasoning_content": reasoning}, place))
    conversation = _conversation_from_document({**header, "turns": [turn_record(t) for t in turns]}, where)
    return conversation, header.get("redaction")


def _parse_comment(text: str, where: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise TranscriptError(f"{where}: a kimi-repl comment is damaged") from None
    if not isinstance(data, dict):
        raise TranscriptError(f"{where}: a kimi-repl comment is damaged")
    return data


# -- files -----------------------------------------------------------------------------------------


def read_text(path: Path) -> str:
    """The text of a file to load, refusing what is missing, unreadable, binary or too big.

    Raises:
        TranscriptError: with one line saying which.
    """
    data = read_regular_file(path, max_bytes=MAX_FILE_BYTES, kind="a transcript", error=TranscriptError)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise TranscriptError(f"{path} is not a text file (not UTF-8)") from None


def save(conversation: Conversation, path: Path, *, overwrite: bool, secret: str | None) -> str:
    """Write ``conversation`` to ``path``: JSON for ``.json``, Markdown otherwise; return the format's name."""
    as_json = path.suffix.lower() == ".json"
    shown = redacted(conversation, Secret(secret))
    text = to_json(shown) if as_json else to_markdown(shown)
    try:
        write_file(path, encode(text), overwrite=overwrite, error=TranscriptError)
    except TranscriptError as error:
        if not overwrite and str(error).endswith("already exists"):
            raise TranscriptError(f"{error}; use /save! to replace it") from None
        raise
    return "JSON" if as_json else "Markdown"
