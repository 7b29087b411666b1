"""Autosaved sessions: one append-only JSON Lines file per conversation, in the user's data folder.

Every change is appended and synced to disk as it happens (a user message when it is sent, a reply when it
ends or is interrupted, a settings change, an undo), so a crash or a closed terminal loses nothing that was
finished. Reading a session replays its events; a last line torn by a crash is skipped.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kimi_repl.conversation import Conversation, Document, Turn, new_session_id
from kimi_repl.transcript import (
    VERSION,
    TranscriptError,
    apply_settings,
    check_alternation,
    context_start_from,
    document_from_record,
    document_record,
    encode,
    from_json,
    from_markdown,
    read_text,
    redact,
    settings_record,
    turn_from_record,
    turn_record,
)

SESSION_FORMAT = "kimi-repl-session"
SUFFIX = ".jsonl"
SAFE_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,63}")


class SessionLog:
    """The file of one conversation. Nothing is created until the first message is sent."""

    def __init__(self, path: Path, conversation: Conversation, *, secret: str | None, exists: bool = False) -> None:
        self.path = path
        self.conversation = conversation
        self._secret = secret
        self._started = exists

    @property
    def started(self) -> bool:
        """Whether the file exists (a message has been sent)."""
        return self._started

    def _append(self, *records: dict[str, Any]) -> None:
        """Append ``records`` as lines and sync them to disk.

        Raises:
            TranscriptError: the file cannot be written.
        """
        text = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, encode(redact(text, self._secret)))
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as error:
            raise TranscriptError(f"autosave to {self.path} failed: {error.strerror or error}") from None

    def turn(self, *turns: Turn) -> None:
        """Record messages or replies, in order, in one write (the first also writes what came before)."""
        conversation = self.conversation
        records = []
        opening = not self._started
        if opening:
            header = {"format": SESSION_FORMAT, "version": VERSION, "id": conversation.id}
            records.append({"event": "session", **header, "created": conversation.created})
            records.append({"event": "settings", **settings_record(conversation)})
            records.extend({"event": "document", **document_record(d)} for d in conversation.documents)
        records.extend({"event": "turn", **turn_record(turn)} for turn in turns)
        if opening and conversation.context_start:
            records.append({"event": "context", "context_start": conversation.context_start})
        self._append(*records)
        self._started = True

    def document(self, document: Document) -> None:
        """Record a document added to the conversation."""
        if self._started:
            self._append({"event": "document", **document_record(document)})

    def documents_cleared(self) -> None:
        if self._started:
            self._append({"event": "documents_cleared"})

    def context(self) -> None:
        """Record which turns are still sent (after trimming to fit the window)."""
        if self._started:
            self._append({"event": "context", "context_start": self.conversation.context_start})

    def settings(self) -> None:
        """Record a change of model, temperature or system prompt (before the first message: nothing to do)."""
        if self._started:
            self._append({"event": "settings", **settings_record(self.conversation)})

    def withdraw(self) -> None:
        """Record that the last user message got no reply and was taken back."""
        if self._started:
            self._append({"event": "withdraw"})

    def undo(self, count: int) -> None:
        """Record that the last ``count`` turns were removed."""
        if self._started and count:
            self._append({"event": "undo", "turns": count})


def read_session(text: str, where: str) -> tuple[Conversation, str]:
    """Replay a session file.

    Returns:
        The conversation, and the text of a last message that never got its reply ("" if none).

    Raises:
        TranscriptError: not a session file, or damaged before its last line.
    """
    conversation = Conversation(model="")
    lines = [(number, line) for number, line in enumerate(text.split("\n"), 1) if line.strip()]
    for index, (number, line) in enumerate(lines):
        place = f"{where}, line {number}"
        try:
            record = json.loads(line)
        except ValueError:
            if index == len(lines) - 1:
                break  # a write torn by a crash: everything before it is intact
            raise TranscriptError(f"{place} is damaged (not JSON)") from None
        if not isinstance(record, dict):
            raise TranscriptError(f"{place} is not an event")
        event = record.get("event")
        if index == 0:
            if event != "session" or record.get("format") != SESSION_FORMAT:
                raise TranscriptError(f"{where} is not a kimi-repl session file")
            version = record.get("version")
            if not isinstance(version, int) or version > VERSION:
                raise TranscriptError(f"{where} was written by a newer kimi-repl (format version {version})")
            conversation.id = str(record.get("id") or conversation.id)
            created = record.get("created")
            if isinstance(created, (int, float)) and not isinstance(created, bool):
                conversation.created = float(created)
        elif event == "settings":
            apply_settings(conversation, record, place)
        elif event == "turn":
            conversation.turns.append(turn_from_record(record, place))
        elif event == "withdraw":
            if conversation.turns and conversation.turns[-1].role == "user":
                conversation.remove_last(1)
        elif event == "undo":
            count = record.get("turns")
            if not isinstance(count, int) or count < 0:
                raise TranscriptError(f"{place}: a damaged undo")
            conversation.remove_last(count)
        elif event == "document":
            conversation.documents.append(document_from_record(record, place))
        elif event == "documents_cleared":
            conversation.documents.clear()
        elif event == "context":
            conversation.context_start = context_start_from(record, len(conversation.turns), place)
    if not lines:
        raise TranscriptError(f"{where} is empty")
    if not conversation.model:
        raise TranscriptError(f"{where} has no settings")
    check_alternation(conversation.turns, where)
    return conversation, take_pending(conversation)


def take_pending(conversation: Conversation) -> str:
    """Remove a last message that never got its reply, and return its text ("" if there is none)."""
    if conversation.turns and conversation.turns[-1].role == "user":
        return conversation.remove_last(1)[0].content
    return ""


def load_file(path: Path) -> tuple[Conversation, str]:
    """Load a JSON or Markdown transcript written by /save, or a session file.

    Returns:
        The conversation (ending with a reply), and the text of a last message that had no reply ("").

    Raises:
        TranscriptError: with one line saying what is wrong with the file.
    """
    text = read_text(path)
    where = str(path)
    start = text.lstrip("\ufeff \t\r\n")
    if start.startswith("{") and '"event"' in start.split("\n", 1)[0]:
        return read_session(text, where)
    if start.startswith("{"):
        conversation = from_json(text, where)
    elif start.startswith("<!-- kimi-repl:transcript"):
        conversation = from_markdown(text.lstrip("\ufeff"), where)
    else:
        raise TranscriptError(f"{where} is not a kimi-repl transcript (a .json or .md from /save, or a session)")
    return conversation, take_pending(conversation)


@dataclass(frozen=True)
class SessionInfo:
    """One saved session, for /sessions."""

    id: str
    path: Path
    modified: float
    title: str
    turns: int
    model: str


class SessionStore:
    """The folder of session files."""

    def __init__(self, folder: Path, *, secret: str | None) -> None:
        self.folder = folder
        self._secret = secret

    def new_log(self, conversation: Conversation) -> SessionLog:
        """A log for a new conversation (its file appears with the first message).

        An id that is not a plain name, or that another session already has, is replaced: ids can come
        from files, and must never lead outside the folder or into another session.
        """
        if not SAFE_ID.fullmatch(conversation.id) or (self.folder / f"{conversation.id}{SUFFIX}").exists():
            conversation.id = new_session_id()
        return SessionLog(self.folder / f"{conversation.id}{SUFFIX}", conversation, secret=self._secret)

    def continue_log(self, path: Path, conversation: Conversation) -> SessionLog:
        """A log that appends to an existing session file."""
        return SessionLog(path, conversation, secret=self._secret, exists=True)

    def paths(self) -> list[Path]:
        """Session files, most recently changed first."""
        try:
            found = [p for p in self.folder.iterdir() if p.suffix == SUFFIX and p.is_file()]
        except OSError:
            return []
        return sorted(found, key=lambda p: (p.stat().st_mtime, p.name), reverse=True)

    def recent(self, limit: int = 20) -> list[SessionInfo]:
        """The ``limit`` most recent sessions that can be read."""
        infos = []
        for path in self.paths():
            try:
                conversation, pending = load_file(path)
            except TranscriptError:
                continue
            title = conversation.title or pending[:60]
            turns = len(conversation.turns) + (1 if pending else 0)
            infos.append(SessionInfo(conversation.id, path, path.stat().st_mtime, title, turns, conversation.model))
            if len(infos) >= limit:
                break
        return infos

    def find(self, key: str) -> Path:
        """The session named by ``key``: its number in /sessions, its id, or the start of its id.

        Raises:
            TranscriptError: no session, or more than one, matches.
        """
        key = key.strip()
        if key.isdigit() and len(key) <= 3:
            recent = self.recent()
            if not 1 <= int(key) <= len(recent):
                raise TranscriptError(f"there is no session number {key}; /sessions lists them")
            return recent[int(key) - 1].path
        matches = [p for p in self.paths() if p.stem.startswith(key)] if key else []
        exact = [p for p in matches if p.stem == key]
        if exact:
            return exact[0]
        if not matches:
            raise TranscriptError(f"no saved session {key!r}; /sessions lists them")
        if len(matches) > 1:
            raise TranscriptError(f"{key!r} matches {len(matches)} sessions; type more of the id")
        return matches[0]

    def latest(self) -> Path | None:
        paths = self.paths()
        return paths[0] if paths else None
