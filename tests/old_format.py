"""Files as kimi-repl wrote them before session format 3, bugs included: old files must still load.

Until then every turn record carried its model, temperature, system prompt and thinking choice, and the API key
was "redacted" by replacing it in the serialised text of each write: ids, timestamps, the version number and
JSON keys included. With a short key (``1``, ``x``: local servers take anything) that made files that cannot be
read; a key holding ``"`` or ``\\`` was written escaped, so it was never found and stayed in the file.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from kimi_repl.conversation import Conversation, Document, Turn, Usage
from kimi_repl.records import document_record, settings_record, turn_record
from kimi_repl.redaction import REDACTED
from kimi_repl.sanitize import json_dumps
from kimi_repl.transcript import to_json
from tests.old_markdown import to_markdown


def old_redact(text: str, key: str | None) -> str:
    """What kimi-repl did to everything it wrote."""
    return text.replace(key, REDACTED) if key else text


class OldSessionLog:
    """The session log of format version 2 (the same calls as :class:`~kimi_repl.sessions.SessionLog`)."""

    def __init__(self, path: Path, conversation: Conversation, *, key: str | None) -> None:
        self.path = path
        self.conversation = conversation
        self.key = key
        self.started = False
        self.pending = ""
        self.dirty = False

    def _append(self, *records: dict[str, Any]) -> None:
        text = "".join(json_dumps(record) + "\n" for record in records)
        with self.path.open("ab") as handle:
            handle.write(old_redact(text, self.key).encode("utf-8", errors="replace"))

    def _snapshot(self) -> list[dict[str, Any]]:
        conversation = self.conversation
        header = {"format": "kimi-repl-session", "version": 2, "id": conversation.id}
        records: list[dict[str, Any]] = [{"event": "session", **header, "created": conversation.created}]
        records.append({"event": "settings", **settings_record(conversation)})
        records.extend({"event": "document", **document_record(d)} for d in conversation.documents)
        records.extend({"event": "turn", **turn_record(turn)} for turn in conversation.turns)
        if conversation.context_start:
            records.append({"event": "context", "context_start": conversation.context_start})
        if self.pending:
            records.append({"event": "withdraw", "pending": self.pending})
        return records

    def turn(self, *turns: Turn) -> None:
        if any(turn.role == "user" for turn in turns):
            self.pending = ""
        if not self.started:
            self._append(*self._snapshot())
        else:
            self._append(*({"event": "turn", **turn_record(turn)} for turn in turns))
        self.started = True

    def document(self, document: Document) -> None:
        if self.started:
            self._append({"event": "document", **document_record(document)})

    def documents_cleared(self) -> None:
        if self.started:
            self._append({"event": "documents_cleared"})

    def context(self) -> None:
        if self.started:
            self._append({"event": "context", "context_start": self.conversation.context_start})

    def settings(self) -> None:
        if self.started:
            self._append({"event": "settings", **settings_record(self.conversation)})

    def withdraw(self, text: str) -> None:
        self.pending = text
        if self.started:
            self._append({"event": "withdraw", "pending": text})

    def undo(self, count: int) -> None:
        if self.started and count:
            self._append({"event": "undo", "turns": count})

    def close(self) -> None:
        pass


def old_transcript(conversation: Conversation, *, as_json: bool, key: str | None) -> str:
    """A /save file as it was written before: no ``redaction`` in its header, the key replaced in the raw text (the
    Markdown form also in format version 2, its metadata above every turn)."""
    if as_json:
        text = to_json(conversation)
        old = text.replace(' "redaction": "values",\n', "", 1)
    else:
        text = to_markdown(conversation)
        old = text.replace('"redaction": "values", ', "", 1)
    assert old != text
    return old_redact(old, key)


# -- conversations to write -----------------------------------------------------------------------

ID = "20261125-101112-a3f9"


def exchange(conversation: Conversation, question: str, answer: str) -> list[Turn]:
    """A message and its reply, as Chat makes them (the reply with the settings in force)."""
    user = conversation.add_user(question)
    reply = Turn(
        role="assistant",
        content=answer,
        model=conversation.model,
        temperature=conversation.temperature,
        system=conversation.system,
        thinking=conversation.thinking,
        finish_reason="stop",
        usage=Usage(12, 34),
        finished=conversation.turns[-1].created + 1.5,
    )
    conversation.add_reply(reply)
    return [user, reply]


def sample(model: str = "kimi-k2.6") -> Conversation:
    """A conversation with a bit of everything a file holds: settings, a document, turns, usage."""
    conversation = Conversation(model=model, temperature=0.3, system="Be brief.", id=ID, created=1764061872.25)
    conversation.documents.append(Document(name="notes.txt", content="some notes"))
    exchange(conversation, 'exactly 1 question? with "quotes", a \\ and 中文', "1 answer")
    conversation.system = "Be briefer."
    exchange(conversation, "an extra one", "example text")
    return conversation


def write_old(folder: Path, conversation: Conversation, key: str | None) -> Path:
    """``conversation`` in a session file as an older kimi-repl wrote it with ``key``: a write per exchange."""
    path = folder / f"{conversation.id}.jsonl"
    log = OldSessionLog(path, Conversation(model=conversation.model, id=conversation.id), key=key)
    log.conversation = replace(conversation, turns=[])
    for index in range(0, len(conversation.turns), 2):
        log.conversation.turns = conversation.turns[: index + 2]
        log.turn(*conversation.turns[index : index + 2])
    return path
