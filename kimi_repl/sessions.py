"""Autosaved sessions: one append-only JSON Lines file per conversation, in the user's data folder.

What a session file promises, whatever happens (a crash or ``kill -9`` at any byte, a hang-up, a full disk,
a second copy of the program):

- **Every change is one line**, appended and synced before the program goes on: a message when it is sent, a
  reply when it ends or is interrupted, a change of settings, an undo. A line cut short is never valid JSON
  (every record ends with ``}``), so loading replays the lines before the first bad one: what loads is a
  prefix of what was written, and every finished turn written before the damage is in it.
- **Damage never gets buried.** Before appending to a session it resumes, the program cuts a torn tail off,
  so new lines never follow a bad one. A write that fails (a full disk) is undone at once and reported;
  the next write rewrites the whole file from memory (a temporary file, then a rename), so nothing finished
  is lost once writing works again.
- **One writer.** A process holds a lock on ``<id>.lock`` (``flock``) while it writes a session; a second
  copy that wants the same session forks it into a new one and says so.
- **Replay never gives up on its own kind of file:** a message without a reply is the pending message (put
  back at the prompt), a second message in a row replaces an unanswered one, counts are clamped.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from kimi_repl.conversation import Conversation, Document, Turn, new_session_id
from kimi_repl.files import read_regular_file, write_all, write_file
from kimi_repl.profile import DEFAULT_MODEL
from kimi_repl.sanitize import escaped_in_json, json_dumps
from kimi_repl.transcript import (
    MAX_FILE_BYTES,
    VERSION,
    TranscriptError,
    apply_settings,
    document_from_record,
    document_record,
    encode,
    from_json,
    from_markdown,
    redact,
    settings_record,
    turn_from_record,
    turn_record,
)

SESSION_FORMAT = "kimi-repl-session"
SUFFIX = ".jsonl"
LOCK_SUFFIX = ".lock"
SAFE_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,63}")

Writer = Callable[[int, bytes], None]


class NewerFormat(TranscriptError):
    """The file was written by a newer kimi-repl."""


class SessionBusy(Exception):
    """Another process holds the session's lock."""

    def __init__(self, pid: int | None) -> None:
        super().__init__(f"open in another kimi-repl{f' (process {pid})' if pid else ''}")
        self.pid = pid


class SessionLock:
    """An exclusive ``flock`` on ``<id>.lock`` beside the session, held until :meth:`release` (or the process ends).

    Raises:
        SessionBusy: another process holds it.
        OSError: the lock file cannot be made.
    """

    def __init__(self, path: Path) -> None:
        self.path = path.with_suffix(LOCK_SUFFIX)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            raise SessionBusy(int(holder) if holder.isdigit() else None) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            os.close(self._fd)
            self._fd = None


class SessionLog:
    """The file of one conversation. Nothing is created until the first message is sent.

    Args:
        exists: the file is there already (a resumed session, repaired and locked by the store).
        write: how bytes reach the file (tests inject a full disk).
    """

    def __init__(
        self,
        path: Path,
        conversation: Conversation,
        *,
        secret: str | None,
        exists: bool = False,
        lock: SessionLock | None = None,
        write: Writer = write_all,
    ) -> None:
        self.path = path
        self.conversation = conversation
        self._secret = secret
        self._started = exists
        self._created_here = False
        self._lock = lock
        self._write = write
        self._pending = ""  # the message last taken back to the prompt, for a rewrite of the whole file
        self.dirty = False
        """A write failed: the file lacks something; the next write rewrites it whole."""

    @property
    def started(self) -> bool:
        """Whether the file exists (a message has been sent)."""
        return self._started

    def _encode(self, records: list[dict[str, Any]]) -> bytes:
        return encode(redact("".join(json_dumps(record) + "\n" for record in records), self._secret))

    def _append(self, *records: dict[str, Any]) -> None:
        """Append ``records`` as lines and sync them to disk (or rewrite the whole file after a failure).

        Raises:
            TranscriptError: the file cannot be written; what was written of it is taken back.
        """
        if self.dirty:
            self.save_whole()
            return
        data = self._encode(list(records))
        try:
            self._hold_lock()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
            try:
                end = os.fstat(fd).st_size
                try:
                    self._write(fd, data)
                    os.fsync(fd)
                except OSError:
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, end)  # no torn line stays behind
                        if not end:
                            os.unlink(self.path)  # nor a file that holds nothing
                    raise
            finally:
                os.close(fd)
        except SessionBusy as busy:
            self.dirty = True
            raise TranscriptError(f"autosave to {self.path} stopped: the session is {busy}") from None
        except OSError as error:
            self.dirty = True
            raise TranscriptError(f"autosave to {self.path} failed: {error.strerror or error}") from None

    def save_whole(self) -> None:
        """Rewrite the file from the conversation in memory (after a failed write), atomically.

        Raises:
            TranscriptError: it cannot be written (the file keeps what it had).
        """
        try:
            self._hold_lock()
        except SessionBusy as busy:
            raise TranscriptError(f"autosave to {self.path} stopped: the session is {busy}") from None
        except OSError as error:
            raise TranscriptError(f"autosave to {self.path} failed: {error.strerror or error}") from None
        write_file(self.path, self._encode(self._snapshot()), overwrite=True, error=TranscriptError)
        self.dirty = False
        self._started = True

    def _hold_lock(self) -> None:
        if self._lock is None:
            self._lock = SessionLock(self.path)

    def _opening(self) -> list[dict[str, Any]]:
        conversation = self.conversation
        header = {"format": SESSION_FORMAT, "version": VERSION, "id": conversation.id}
        records = [{"event": "session", **header, "created": conversation.created}]
        records.append({"event": "settings", **settings_record(conversation)})
        records.extend({"event": "document", **document_record(d)} for d in conversation.documents)
        return records

    def _snapshot(self) -> list[dict[str, Any]]:
        """The whole conversation as records: replaying them gives it back."""
        conversation = self.conversation
        records = self._opening() + [{"event": "turn", **turn_record(turn)} for turn in conversation.turns]
        if conversation.context_start:
            records.append({"event": "context", "context_start": conversation.context_start})
        if self._pending:
            records.append({"event": "withdraw", "pending": self._pending})
        return records

    def turn(self, *turns: Turn) -> None:
        """Record messages or replies, in order, in one write (the first also writes what came before)."""
        if any(turn.role == "user" for turn in turns):
            self._pending = ""
        if not self._started:
            self._created_here = True
            self._append(*self._snapshot())
        else:
            self._append(*({"event": "turn", **turn_record(turn)} for turn in turns))
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
        """Record a change of model, temperature, system prompt or thinking (before the first message: nothing)."""
        if self._started:
            self._append({"event": "settings", **settings_record(self.conversation)})

    def withdraw(self, text: str) -> None:
        """Record that the last user message got no reply and was taken back to the prompt, as ``text``.

        The text stays in the file as the pending message, so that it comes back after a crash too, until
        the next message is sent.
        """
        self._pending = text
        if self._started:
            self._append({"event": "withdraw", "pending": text})

    def undo(self, count: int) -> None:
        """Record that the last ``count`` turns were removed."""
        if self._started and count:
            self._append({"event": "undo", "turns": count})

    def close(self) -> None:
        """Let go of the session: a file this process made that holds no turn is removed; the lock goes."""
        if self._created_here and not self.conversation.turns and not self.dirty:
            with contextlib.suppress(OSError):
                self.path.unlink()
        if self._lock is not None:
            self._lock.release()
            self._lock = None


# -- reading ---------------------------------------------------------------------------------------


@dataclass
class Replay:
    """What a session file holds, as far as it can be read.

    Attributes:
        pending: the text of a last message that never got its reply ("" if none); it is not in
            ``conversation.turns``.
        good_bytes: how much of the file replayed (everything before the first damaged line).
        damaged_line: the first line that could not be read, or None.
        damage_buried: valid lines followed the damage (not just a torn last write).
    """

    conversation: Conversation
    pending: str = ""
    good_bytes: int = 0
    damaged_line: int | None = None
    damage_buried: bool = False
    notes: list[str] = field(default_factory=list)


def _lines(data: bytes) -> Iterator[tuple[int, bytes, int]]:
    """``(number, line, end offset)`` for each line of ``data`` (the last may have no newline)."""
    start, number = 0, 0
    while start < len(data):
        newline = data.find(b"\n", start)
        end = len(data) if newline < 0 else newline + 1
        number += 1
        yield number, data[start:end].rstrip(b"\n"), end
        start = end


def replay(data: bytes, where: str) -> Replay:
    """Replay a session file.

    Raises:
        TranscriptError: not a kimi-repl session file (nothing of one could be read), or a newer format.
    """
    result = Replay(Conversation(model=DEFAULT_MODEL))
    conversation = result.conversation
    pending = [""]  # the message taken back to the prompt, as the last withdraw said
    header_seen = False
    for number, line, end in _lines(data):
        if not line.strip():
            result.good_bytes = end
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not an object")
            if header_seen:
                _apply(conversation, record, f"{where}, line {number}", pending)
            else:
                _read_header(conversation, record, where)
                header_seen = True
        except NewerFormat:
            raise
        except (TranscriptError, ValueError, RecursionError):
            result.damaged_line = number
            result.damage_buried = any(rest.strip() for _, rest, _ in _lines(data[end:]))
            break
        result.good_bytes = end
    if not header_seen:
        raise TranscriptError(f"{where} is not a kimi-repl session file (or nothing of it was written)")
    if result.damage_buried:
        result.notes.append(
            f"⚠ {where} is damaged at line {result.damaged_line}: what came before it is loaded, the rest is not."
        )
    last = conversation.turns[-1] if conversation.turns else None
    if last is not None and last.role == "user":
        result.pending = conversation.remove_last(1)[0].content
    else:
        result.pending = pending[0]
    return result


def _read_header(conversation: Conversation, record: dict[str, Any], where: str) -> None:
    if record.get("event") != "session" or record.get("format") != SESSION_FORMAT:
        raise ValueError("not a session header")
    version = record.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise NewerFormat(f"{where} was written by a newer kimi-repl (format version {version})")
    session_id = record.get("id")
    if isinstance(session_id, str) and session_id:
        conversation.id = session_id  # shown, never used as a path: the store names files itself
    created = record.get("created")
    if isinstance(created, (int, float)) and not isinstance(created, bool):
        conversation.created = float(created)


def _apply(conversation: Conversation, record: dict[str, Any], place: str, pending: list[str]) -> None:
    """Replay one event, keeping the turns alternating whatever the file says.

    Args:
        pending: holds the message last taken back to the prompt (updated here).

    Raises:
        TranscriptError, ValueError: the record is damaged.
    """
    event = record.get("event")
    turns = conversation.turns
    if event == "settings":
        apply_settings(conversation, record, place)
    elif event == "turn":
        turn = turn_from_record(record, place)
        if turns and turns[-1].role == turn.role:
            turns.pop()  # an unanswered message sent again, or a reply written twice: the later one counts
        if turn.role == "user" or turns:
            turns.append(turn)
        if turn.role == "user":
            pending[0] = ""  # the next message was sent: nothing waits at the prompt any more
    elif event == "withdraw":
        text = record.get("pending", "")
        if not isinstance(text, str):
            raise ValueError("a damaged withdraw")
        if turns and turns[-1].role == "user":
            taken = turns.pop().content
            text = text or taken
        pending[0] = text
    elif event == "undo":
        count = record.get("turns")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ValueError("a damaged undo")
        conversation.remove_last(count)
    elif event == "document":
        conversation.documents.append(document_from_record(record, place))
    elif event == "documents_cleared":
        conversation.documents.clear()
    elif event == "context":
        start = record.get("context_start")
        if not isinstance(start, int) or isinstance(start, bool):
            raise ValueError("a damaged context")
        conversation.context_start = max(0, min(start, len(turns))) // 2 * 2
    conversation.context_start = min(conversation.context_start, len(turns) // 2 * 2)


def read_bytes(path: Path) -> bytes:
    """The bytes of a file to load (a regular file, not too big).

    Raises:
        TranscriptError: with one line saying why not.
    """
    return read_regular_file(path, max_bytes=MAX_FILE_BYTES, kind="a transcript", error=TranscriptError)


def load_file(path: Path) -> tuple[Conversation, str]:
    """Load a JSON or Markdown transcript written by /save, or a session file.

    Returns:
        The conversation (ending with a reply), and the text of a last message that had no reply ("").

    Raises:
        TranscriptError: with one line saying what is wrong with the file.
    """
    data = read_bytes(path)
    where = str(path)
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") and b'"event"' in data.split(b"\n", 1)[0]:
        result = replay(data, where)
        return result.conversation, result.pending
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise TranscriptError(f"{path} is not a text file (not UTF-8)") from None
    start = text.lstrip("\ufeff \t\r\n")
    if start.startswith("{"):
        conversation = from_json(text, where)
    elif start.startswith("<!-- kimi-repl:transcript"):
        conversation = from_markdown(text.lstrip("\ufeff"), where)
    else:
        raise TranscriptError(f"{where} is not a kimi-repl transcript (a .json or .md from /save, or a session)")
    return conversation, take_pending(conversation)


def take_pending(conversation: Conversation) -> str:
    """Remove a last message that never got its reply, and return its text ("" if there is none)."""
    if conversation.turns and conversation.turns[-1].role == "user":
        return conversation.remove_last(1)[0].content
    return ""


# -- the folder ------------------------------------------------------------------------------------


class SessionInfo(NamedTuple):
    """One saved session, for /sessions."""

    id: str
    path: Path
    modified: float
    title: str
    turns: int
    model: str


def _info(path: Path, result: Replay, modified: float) -> SessionInfo:
    conversation, pending = result.conversation, result.pending
    title = conversation.title or pending[:60]
    turns = len(conversation.turns) + (1 if pending else 0)
    return SessionInfo(conversation.id, path, modified, title, turns, conversation.model)


def _matching_line(texts: list[str], needle: str, width: int = 70) -> str:
    """The first line of ``texts`` holding ``needle`` (case-insensitive), cut to about ``width`` around it."""
    for text in texts:
        for line in text.splitlines():
            at = line.casefold().find(needle)
            if at >= 0:
                start = max(0, at - width // 3)
                piece = line[start : start + width].strip()
                return ("…" if start else "") + piece + ("…" if start + width < len(line) else "")
    return ""


@dataclass
class Resumed:
    """A session taken up again: its conversation and, unless another process holds it, its log.

    Attributes:
        log: None when the session is busy (``busy`` says who has it): the caller forks it.
    """

    conversation: Conversation
    pending: str
    log: SessionLog | None
    busy: SessionBusy | None = None
    notes: list[str] = field(default_factory=list)


class SessionStore:
    """The folder of session files."""

    def __init__(self, folder: Path, *, secret: str | None, write: Writer = write_all) -> None:
        self.folder = folder
        self._secret = secret
        self._write = write

    def new_log(self, conversation: Conversation) -> SessionLog:
        """A log for a new conversation (its file appears with the first message).

        An id that is not a plain name, or that another session already has, is replaced: ids can come
        from files, and must never lead outside the folder or into another session.
        """
        if not SAFE_ID.fullmatch(conversation.id) or (self.folder / f"{conversation.id}{SUFFIX}").exists():
            conversation.id = new_session_id()
        return SessionLog(
            self.folder / f"{conversation.id}{SUFFIX}", conversation, secret=self._secret, write=self._write
        )

    def resume(self, path: Path) -> Resumed:
        """Take up the session in ``path``: lock it, load it, and cut off a torn tail before anything is appended.

        Raises:
            TranscriptError: it cannot be read.
        """
        try:
            lock: SessionLock | None = SessionLock(path)
        except SessionBusy as busy:
            result = replay(read_bytes(path), str(path))
            return Resumed(result.conversation, result.pending, None, busy, result.notes)
        except OSError:
            lock = None  # an unwritable folder: the log will say so when it writes
        try:
            data = read_bytes(path)
            result = replay(data, str(path))
            if result.good_bytes < len(data):
                self._repair(path, data, result)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        log = SessionLog(path, result.conversation, secret=self._secret, exists=True, lock=lock, write=self._write)
        if not data[: result.good_bytes].endswith(b"\n") and result.good_bytes:
            log.dirty = True  # a last line without its newline: rewrite rather than append to it
        return Resumed(result.conversation, result.pending, log, notes=result.notes)

    def _repair(self, path: Path, data: bytes, result: Replay) -> None:
        """Cut the file back to what replayed; keep a copy first if the damage was not just a torn tail."""
        with contextlib.suppress(OSError):
            if result.damage_buried:
                write_file(path.with_suffix(".damaged"), data, overwrite=True, error=TranscriptError)
            os.truncate(path, result.good_bytes)

    def paths(self) -> list[Path]:
        """Session files, most recently changed first."""
        found: list[tuple[float, str, Path]] = []
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return []
        for entry in entries:
            if entry.name.endswith(SUFFIX):
                with contextlib.suppress(OSError):
                    if entry.is_file(follow_symlinks=False):
                        found.append((entry.stat().st_mtime, entry.name, Path(entry.path)))
        return [path for _, _, path in sorted(found, reverse=True)]

    def recent(self, limit: int = 20) -> list[SessionInfo]:
        """The ``limit`` most recent sessions that can be read and hold something."""
        infos = []
        for path in self.paths():
            try:
                result = replay(read_bytes(path), str(path))
                modified = path.stat().st_mtime
            except (TranscriptError, OSError):
                continue
            if not result.conversation.turns and not result.pending:
                continue
            infos.append(_info(path, result, modified))
            if len(infos) >= limit:
                break
        return infos

    def find(self, key: str) -> Path:
        """The session named by ``key``: its number in /sessions, its id, or the start of its id.

        Raises:
            TranscriptError: no session, or more than one, matches.
        """
        key = key.strip()
        if not key:
            raise TranscriptError("no session named: give its number in /sessions or its id")
        if key.isdigit() and len(key) <= 3:
            recent = self.recent()
            if not 1 <= int(key) <= len(recent):
                raise TranscriptError(f"there is no session number {key}; /sessions lists them")
            return recent[int(key) - 1].path
        matches = [p for p in self.paths() if p.stem.startswith(key)]
        exact = [p for p in matches if p.stem == key]
        if exact:
            return exact[0]
        if not matches:
            raise TranscriptError(f"no saved session {key!r}; /sessions lists them")
        if len(matches) > 1:
            raise TranscriptError(f"{key!r} matches {len(matches)} sessions; type more of the id")
        return matches[0]

    def search(self, words: list[str], limit: int = 20) -> list[tuple[SessionInfo, str]]:
        """The ``limit`` most recent sessions in which every word appears in some turn (case-insensitive), each
        with a line that matches.

        Files are first checked as raw text (every word must be there somewhere: most sessions stop here);
        only those left are replayed and checked turn by turn.
        """
        needles = [word.casefold() for word in words if word.strip()]
        plain = [n for n in needles if not escaped_in_json(n)]  # written as they are: look for them in the raw file
        found: list[tuple[SessionInfo, str]] = []
        for path in self.paths():
            try:
                data = read_bytes(path)
            except TranscriptError:
                continue
            raw = data.decode("utf-8", "replace").casefold()
            if not all(needle in raw for needle in plain):
                continue
            try:
                result = replay(data, str(path))
                modified = path.stat().st_mtime
            except (TranscriptError, OSError):
                continue
            texts = [turn.content for turn in result.conversation.turns] + [result.pending]
            folded = [text.casefold() for text in texts]
            if not all(any(needle in text for text in folded) for needle in needles):
                continue
            found.append((_info(path, result, modified), _matching_line(texts, needles[0] if needles else "")))
            if len(found) >= limit:
                break
        return found

    def delete(self, path: Path) -> None:
        """Remove the session in ``path``.

        Raises:
            TranscriptError: another kimi-repl has it open, or it cannot be removed.
        """
        try:
            lock = SessionLock(path)
        except SessionBusy as busy:
            raise TranscriptError(f"{path.stem} is {busy}: close it there first") from None
        except OSError as error:
            raise TranscriptError(f"cannot delete {path.stem}: {error.strerror or error}") from None
        try:
            path.unlink()
        except OSError as error:
            raise TranscriptError(f"cannot delete {path.stem}: {error.strerror or error}") from None
        finally:
            lock.release()

    def latest(self) -> Path | None:
        """The most recent session that holds something (a file torn at its first write does not count)."""
        recent = self.recent(limit=1)
        return recent[0].path if recent else None
