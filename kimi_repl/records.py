"""The record schema: turns, documents and settings as JSON-ready data, and back, checked.

Transcripts (:mod:`kimi_repl.transcript`) and session files (:mod:`kimi_repl.sessions`) both write these records.
Files are untrusted input: every record read is checked against the schema, and a bad one is refused with one
line (:class:`TranscriptError`) saying where and what.

The API key is removed from text values only (:func:`redacted`): ids, model names, numbers and pictures' data
are structure (:data:`~kimi_repl.redaction.STRUCTURE`) and are written as they are.
"""

from __future__ import annotations

import math
import re
from dataclasses import fields, is_dataclass, replace
from typing import Any

from kimi_repl.conversation import Conversation, Document, Image, Output, Turn, Usage
from kimi_repl.errors import UserError
from kimi_repl.redaction import STRUCTURE, Secret
from kimi_repl.values import check_model_name

IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")


class TranscriptError(UserError):
    """A transcript or session file could not be read or written."""


def read_field(data: dict[str, Any], name: str, kinds: tuple[type, ...], default: Any, where: str) -> Any:
    """``data[name]``, checked to be one of ``kinds`` (a bool only if ``bool`` is named; a float only finite);
    ``default`` when it is missing.

    Raises:
        TranscriptError: it has the wrong type, or is not a finite number.
    """
    value = data.get(name, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) and bool not in kinds:
        raise TranscriptError(f"{where}: '{name}' has the wrong type")
    if not isinstance(value, kinds):
        raise TranscriptError(f"{where}: '{name}' has the wrong type")
    if isinstance(value, float) and not math.isfinite(value):
        raise TranscriptError(f"{where}: '{name}' is not a finite number")
    return value


# -- turns -------------------------------------------------------------------------------------------


def turn_record(turn: Turn) -> dict[str, Any]:
    """Everything about ``turn``, as JSON-ready data."""
    record: dict[str, Any] = {
        "role": turn.role,
        "content": turn.content,
        "model": turn.model,
        "temperature": turn.temperature,
        "system": turn.system,
        "thinking": turn.thinking,
        "created": turn.created,
    }
    if turn.images:
        record["images"] = [{"name": image.name, "mime": image.mime, "data": image.data} for image in turn.images]
    if turn.searches:
        record["searches"] = [dict(search) for search in turn.searches]
    if turn.outputs:
        record["outputs"] = [output_record(output) for output in turn.outputs]
    if turn.role == "assistant":
        record.update(
            reasoning_content=turn.reasoning_content,
            finish_reason=turn.finish_reason,
            interrupted=turn.interrupted,
            incomplete=turn.incomplete,
            usage=turn.usage.record() if turn.usage else None,
            spent=turn.spent.record() if turn.spent else None,
            finished=turn.finished,
        )
        if turn.written_by:
            record["written_by"] = list(turn.written_by)
    return record


def turn_from_record(data: Any, where: str) -> Turn:
    """A :class:`Turn` from data read from a file.

    Raises:
        TranscriptError: the data is not a turn.
    """
    if not isinstance(data, dict):
        raise TranscriptError(f"{where} is not an object")
    role = data.get("role")
    if role not in ("user", "assistant"):
        raise TranscriptError(f"{where} has role {role!r}, not 'user' or 'assistant'")
    number = (int, float)
    return Turn(
        role=role,
        content=read_field(data, "content", (str,), "", where),
        model=read_field(data, "model", (str,), None, where),
        temperature=read_field(data, "temperature", number, None, where),
        system=read_field(data, "system", (str,), None, where),
        thinking=read_field(data, "thinking", (bool,), None, where),
        reasoning_content=read_field(data, "reasoning_content", (str,), "", where),
        finish_reason=read_field(data, "finish_reason", (str,), None, where),
        interrupted=read_field(data, "interrupted", (bool,), False, where),
        incomplete=read_field(data, "incomplete", (bool,), False, where),
        usage=Usage.from_record(read_field(data, "usage", (dict,), None, where)),
        spent=Usage.from_record(read_field(data, "spent", (dict,), None, where)),
        images=[image_from_record(item, where) for item in read_field(data, "images", (list,), [], where)],
        searches=[search_from_record(item, where) for item in read_field(data, "searches", (list,), [], where)],
        outputs=[output_from_record(item, where) for item in read_field(data, "outputs", (list,), [], where)],
        created=moment(read_field(data, "created", number, 0.0, where)),
        finished=_moment_or_none(read_field(data, "finished", number, None, where)),
        written_by=[
            _text_item(item, "written_by", where) for item in read_field(data, "written_by", (list,), [], where)
        ],
    )


def _text_item(item: Any, name: str, where: str) -> str:
    if not isinstance(item, str):
        raise TranscriptError(f"{where}: '{name}' holds something that is not text")
    return item


def image_from_record(data: Any, where: str) -> Image:
    """An :class:`Image` from data read from a file (of one of :data:`IMAGE_TYPES`, its data base64).

    Raises:
        TranscriptError: the data is not such an image.
    """
    if not isinstance(data, dict):
        raise TranscriptError(f"{where}: an image is not an object")
    mime = read_field(data, "mime", (str,), "", where)
    if mime not in IMAGE_TYPES:
        raise TranscriptError(f"{where}: an image has type {mime!r}, not one of {', '.join(IMAGE_TYPES)}")
    payload = read_field(data, "data", (str,), "", where)
    if not re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", payload):
        raise TranscriptError(f"{where}: an image's data is not base64")
    return Image(name=read_field(data, "name", (str,), "image", where), mime=mime, data=payload)


def search_from_record(data: Any, where: str) -> dict[str, str]:
    """A web search a reply made, from data read from a file (an object of texts).

    Raises:
        TranscriptError: the data is not one.
    """
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise TranscriptError(f"{where}: a web search is not an object of texts")
    return {str(k): v for k, v in data.items()}


# -- documents, settings, the conversation's own fields -----------------------------------------------


def document_record(document: Document) -> dict[str, Any]:
    """A document of the conversation, as JSON-ready data."""
    return {"name": document.name, "content": document.content, "file_id": document.file_id, "turn": document.turn}


def document_from_record(data: Any, where: str) -> Document:
    """A :class:`Document` from data read from a file.

    Raises:
        TranscriptError: the data is not a document.
    """
    if not isinstance(data, dict):
        raise TranscriptError(f"{where} is not an object")
    return Document(
        name=read_field(data, "name", (str,), "", where),
        content=read_field(data, "content", (str,), "", where),
        file_id=read_field(data, "file_id", (str,), None, where),
        turn=max(0, read_field(data, "turn", (int,), 0, where)),
    )


def output_record(output: Output) -> dict[str, Any]:
    """A shell command's output, as JSON-ready data."""
    return {"command": output.command, "text": output.text, "status": output.status, "cut": output.cut}


def output_from_record(data: Any, where: str) -> Output:
    """An :class:`Output` from data read from a file.

    Raises:
        TranscriptError: the data is not a command's output.
    """
    if not isinstance(data, dict):
        raise TranscriptError(f"{where}: a command's output is not an object")
    cut = read_field(data, "cut", (int,), 0, where)
    return Output(
        command=read_field(data, "command", (str,), "", where),
        text=read_field(data, "text", (str,), "", where),
        status=read_field(data, "status", (int,), None, where),
        cut=max(0, cut),
    )


def context_record(conversation: Conversation) -> dict[str, Any]:
    """Which turns are still sent, and the documents: a whole-conversation record's part of them."""
    return {
        "context_start": conversation.context_start,
        "documents": [document_record(d) for d in conversation.documents],
    }


def context_start_from(data: dict[str, Any], turns: int, where: str) -> int:
    """The checked index of the first turn still sent."""
    start = read_field(data, "context_start", (int,), 0, where)
    if not 0 <= start <= turns or start % 2:
        raise TranscriptError(f"{where}: context_start {start} does not fit {turns} turns")
    return int(start)


def settings_record(conversation: Conversation) -> dict[str, Any]:
    """The conversation's model, temperature, system prompt, thinking choice and web search."""
    return conversation.in_force.record()


def apply_settings(conversation: Conversation, data: dict[str, Any], where: str) -> None:
    """Set the conversation's model, temperature, system prompt and thinking choice from ``data`` (checked)."""
    model = read_field(data, "model", (str,), conversation.model, where)
    if not model:
        raise TranscriptError(f"{where} does not say which model it used")
    try:
        check_model_name(model)
    except ValueError as error:
        raise TranscriptError(f"{where}: {error}") from None
    temperature = read_field(data, "temperature", (int, float), None, where)
    if temperature is not None and not 0 <= temperature <= 1:
        raise TranscriptError(f"{where}: temperature {temperature} is outside 0 to 1")
    conversation.model = model
    conversation.temperature = temperature
    conversation.system = read_field(data, "system", (str,), None, where) or None
    conversation.thinking = read_field(data, "thinking", (bool,), None, where)
    conversation.web = read_field(data, "web", (bool,), False, where)


def check_alternation(turns: list[Turn], where: str) -> None:
    """Refuse turns that do not alternate user, assistant, user, … (a final user turn is allowed)."""
    for index, turn in enumerate(turns):
        expected = "user" if index % 2 == 0 else "assistant"
        if turn.role != expected:
            raise TranscriptError(f"{where}: turn {index + 1} is from the {turn.role}, expected the {expected}")


# -- writing -------------------------------------------------------------------------------------------


def redacted(conversation: Conversation, secret: Secret) -> Conversation:
    """``conversation`` with the key removed from its text values (ids, model names and pictures' data untouched),
    even where it is disguised as markdown would show it (a transcript is rendered: ``&#115;k-…``, ``s**k-…**``):
    a copy where something changed, else ``conversation`` itself."""
    return _redacted(conversation, secret) if secret else conversation


def _redacted(value: Any, secret: Secret) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for item in fields(value):
            if item.name not in STRUCTURE:
                old = getattr(value, item.name)
                new = _redacted(old, secret)
                if new is not old:
                    changes[item.name] = new
        return replace(value, **changes) if changes else value
    if isinstance(value, list) and any(is_dataclass(item) for item in value):
        items = [_redacted(item, secret) for item in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    return secret.redact_value(value, shown=True)


def encode(text: str) -> bytes:
    """UTF-8, with any lone surrogate a model produced replaced rather than failing the write."""
    return text.encode("utf-8", errors="replace")


LATEST_MOMENT = 32_503_680_000.0
"""The year 3000: the latest time every platform's clock functions take (Windows' are the narrowest)."""


def moment(value: float) -> float:
    """A time read from a file, as seconds since the epoch that every platform can show: one out of range
    (negative, past the year 3000) is unknown, 0."""
    return float(value) if 0 <= value <= LATEST_MOMENT else 0.0


def _moment_or_none(value: float | None) -> float | None:
    return None if value is None else moment(value)
