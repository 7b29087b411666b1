"""The Markdown transcript as kimi-repl wrote it in format version 2, kept to check that such files still load.

Each turn's metadata was an HTML comment above it, and the first line a comment holding the header, documents'
text included. This is that writer as it was (only its imports changed), bugs included.
"""

from __future__ import annotations

import re
import time
from typing import Any

from kimi_repl.conversation import Conversation, Turn
from kimi_repl.records import context_record, settings_record, turn_record
from kimi_repl.safefiles import byte_size
from kimi_repl.sanitize import escape_for_file, json_dumps

FORMAT = "kimi-repl-transcript"
VERSION = 2
REDACTION = "values"

_MARK = "<!-- kimi-repl:"
_ESCAPED_MARK = re.compile(r"^(\\*)<!-- kimi-repl:")
_ANSWER = "<!-- kimi-repl:answer -->"
_THINKING_OPEN = "<details><summary>Thinking</summary>\n\n"
_THINKING_CLOSE = "\n\n</details>\n"


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


def _clock(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def _quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.split("\n"))


def to_markdown(conversation: Conversation, *, version: int = VERSION) -> str:
    """The Markdown transcript of format ``version`` (2, or 1: the same but for escaping, which the caller undoes)."""
    turns = conversation.turns
    models = list(dict.fromkeys(t.model for t in turns if t.model)) or [conversation.model]
    temperatures = list(dict.fromkeys(t.temperature for t in turns)) or [conversation.temperature]
    header = {
        "format": FORMAT,
        "version": version,
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
