"""Markdown transcripts of format versions 1 and 2, as kimi-repl wrote them until version 3: read, never written.

Each turn's metadata is an HTML comment above it (``<!-- kimi-repl:turn {...} -->``), the text follows as it
was; a line of text that would look like such a comment has a backslash before it. A reply's reasoning comes
first in a ``<details>`` section, then ``<!-- kimi-repl:answer -->``; a code fence the text left open is closed
after it, followed by ``<!-- kimi-repl:closed -->``. Version 2 escapes control, bidi and invisible characters
(:func:`~kimi_repl.sanitize.escape_for_file`); version 1 did not.
"""

from __future__ import annotations

import json
import re
from typing import Any

from kimi_repl.conversation import Conversation
from kimi_repl.records import TranscriptError
from kimi_repl.sanitize import unescape_from_file
from kimi_repl.transcript_format import conversation_from_document

_TURN = "<!-- kimi-repl:turn "
_ESCAPED_MARK = re.compile(r"^(\\*)<!-- kimi-repl:")
_ANSWER = "<!-- kimi-repl:answer -->"
_THINKING_OPEN = "<details><summary>Thinking</summary>\n\n"
_THINKING_CLOSE = "\n\n</details>"
_CLOSED = "<!-- kimi-repl:closed -->"
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def read_v2(lines: list[str], header: dict[str, Any], version: int, where: str) -> tuple[Conversation, Any]:
    """The conversation in the ``lines`` of a version 1 or 2 transcript (its first line read as ``header``), and
    the header's ``redaction``.

    Raises:
        TranscriptError: the text is damaged.
    """
    sections: list[tuple[dict[str, Any], list[str]]] = []
    for line in lines[1:]:
        if line.startswith(_TURN) and line.endswith(" -->"):
            sections.append((comment_data(line[len(_TURN) : -4], where), []))
        elif sections:
            sections[-1][1].append(line)
    turns = []
    for number, (meta, body_lines) in enumerate(sections, 1):
        # After the heading and its blank line; the section's last "\n" is the separator that was written.
        body = "\n".join(body_lines[2:]).removesuffix("\n")
        reasoning = ""
        if meta.get("has_reasoning") is True:
            thinking, marker, body = body.partition("\n" + _ANSWER + "\n\n")
            if not marker:
                raise TranscriptError(f"{where}, turn {number}: the thinking section is not closed")
            thinking = thinking.removeprefix(_THINKING_OPEN).removesuffix(_THINKING_CLOSE)
            reasoning = _unescape(_unclosed(thinking), version)
        turns.append({**meta, "content": _unescape(_unclosed(body), version), "reasoning_content": reasoning})
    return conversation_from_document({**header, "turns": turns}, where), header.get("redaction")


def _unclosed(text: str) -> str:
    """``text`` without the fence and the marker added after it, if they were."""
    if not text.endswith("\n" + _CLOSED):
        return text
    body, _, fence = text[: -len(_CLOSED) - 1].rpartition("\n")
    return body if _FENCE.match(fence) else text


def _unescape(text: str, version: int) -> str:
    lines = "\n".join(line[1:] if _ESCAPED_MARK.match(line) else line for line in text.split("\n"))
    return unescape_from_file(lines) if version >= 2 else lines


def comment_data(text: str, where: str) -> dict[str, Any]:
    """The JSON object in one of kimi-repl's comments (both versions write them so).

    Raises:
        TranscriptError: it is not one.
    """
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise TranscriptError(f"{where}: a kimi-repl comment is damaged") from None
    if not isinstance(data, dict):
        raise TranscriptError(f"{where}: a kimi-repl comment is damaged")
    return data
