"""Writing a session file: :class:`SessionLog` appends one synced line per change, holding the session's lock
(:class:`SessionLock`) against a second copy of the program; a write that fails marks the log ``dirty``, and the
next one rewrites the whole file from memory."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from kimi_repl.conversation import Conversation, Document, Output, Turn
from kimi_repl.records import TranscriptError, document_record, encode, output_record, settings_record, turn_record
from kimi_repl.redaction import Secret
from kimi_repl.safefiles import CLOEXEC, NOFOLLOW, changeable_by_others, write_all, write_file
from kimi_repl.sanitize import json_dumps
from kimi_repl.sessions.format import (
    BEFORE_ANY,
    LOCK_SUFFIX,
    SESSION_FORMAT,
    SESSION_VERSION,
    TURN_SETTINGS,
    Settings,
    in_force,
    put_in_force,
)

if sys.platform == "win32":  # pragma: no cover - no flock: msvcrt locks a byte of the lock file instead
    import msvcrt

    def _try_lock(fd: int) -> None:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            raise BlockingIOError from None

else:
    import importlib
    from types import ModuleType

    def _module(name: str) -> ModuleType | None:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError:  # a platform without flock: the session is not locked
            return None

    _fcntl = _module("fcntl")

    def _try_lock(fd: int) -> None:
        if _fcntl is not None:
            _fcntl.flock(fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)


Writer = Callable[[int, bytes], None]
"""How bytes reach a file (tests inject a full disk)."""


class SessionBusy(Exception):
    """Another process holds the session's lock."""

    def __init__(self, pid: int | None) -> None:
        super().__init__(f"open in another kimi-repl{f' (process {pid})' if pid else ''}")
        self.pid = pid


def _still_there(fd: int, path: Path) -> bool:
    """Whether the open file ``fd`` is still the one at ``path`` (not removed, or replaced, since it was opened)."""
    try:
        mine, there = os.fstat(fd), os.lstat(path)
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)


class SessionLock:
    """An exclusive ``flock`` on ``<id>.lock`` beside the session, held until :meth:`release` (or the process ends).

    Raises:
        SessionBusy: another process holds it.
        OSError: the lock file cannot be made.
    """

    def __init__(self, path: Path) -> None:
        self.path = path.with_suffix(LOCK_SUFFIX)
        for _ in range(100):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | CLOEXEC | NOFOLLOW, 0o600)
            try:
                _try_lock(fd)
            except BlockingIOError:
                holder = ""
                with contextlib.suppress(OSError):
                    holder = os.read(fd, 32).decode("ascii", "replace").strip()
                os.close(fd)
                raise SessionBusy(int(holder) if holder.isdigit() and holder.isascii() else None) from None
            if _still_there(fd, self.path):
                break
            os.close(fd)  # its holder removed it as we locked it: a lock on a file no one else will open
        else:
            raise BlockingIOError(f"{self.path} keeps being replaced")
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            os.close(self._fd)
            self._fd = None


# -- records against the settings in force ---------------------------------------------------------


def _turn_line(turn: Turn, settings: Settings) -> dict[str, Any]:
    """``turn``'s record, without what ``settings`` (in force) already say."""
    record = {"event": "turn", **turn_record(turn)}
    for name in TURN_SETTINGS:
        if record[name] == settings[name]:
            del record[name]
    return record


def _settings_change(wanted: dict[str, Any], settings: Settings) -> tuple[dict[str, Any], Settings] | None:
    """A settings record that puts ``wanted`` in force where ``settings`` are, saying only what differs, and what
    it puts in force; None when nothing would change, or it cannot be said (a turn from a transcript may name no
    model, or one a settings record may not)."""
    record = {"event": "settings", **{name: value for name, value in wanted.items() if value != settings[name]}}
    after = put_in_force(record, settings)
    return None if after is None or after == settings else (record, after)


def _turn_settings(turn: Turn) -> dict[str, Any]:
    return {name: getattr(turn, name) for name in TURN_SETTINGS}


def _change_before(turn: Turn, settings: Settings) -> tuple[dict[str, Any], Settings] | None:
    """A settings record to write before ``turn``, and what it puts in force; None when the turn has no
    differences, or is better off carrying them itself (a reply's own model or thinking)."""
    if turn.role == "assistant" and turn.system == settings["system"]:
        return None
    return _settings_change(_turn_settings(turn), settings)


def _title_line(conversation: Conversation) -> dict[str, Any]:
    return {"event": "title", "title": conversation.named, "by": conversation.named_by}


# -- the log ---------------------------------------------------------------------------------------


class SessionLog:
    """The file of one conversation. Nothing is created until the first message is sent.

    Args:
        exists: the file is there already (a resumed session, repaired and locked by the store); its settings in
            force are the conversation's.
        write: how bytes reach the file (tests inject a full disk).
        pending: the message waiting at the prompt (a resumed session's), for a rewrite of the whole file.
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
        pending: str = "",
    ) -> None:
        self.path = path
        self.conversation = conversation
        self._secret = Secret(secret)
        self._started = exists
        self._created_here = False
        self._lock = lock
        self._write = write
        self._pending = pending  # the message last taken back to the prompt, for a rewrite of the whole file
        self._in_force = in_force(conversation)
        """The settings in force at the file's end (what turn records are written against); set anew by each
        whole write."""
        self.dirty = False
        """A write failed: the file lacks something; the next write rewrites it whole."""

    @property
    def started(self) -> bool:
        """Whether the file exists (a message has been sent)."""
        return self._started

    def _encode(self, records: Iterable[dict[str, Any]]) -> bytes:
        redact = self._secret.redact_value
        return encode("".join(json_dumps(redact(record)) + "\n" for record in records))

    def _append(self, *records: dict[str, Any], settings: Settings | None = None) -> None:
        """Append ``records`` as lines and sync them to disk (or rewrite the whole file after a failure).

        Args:
            settings: what is in force once ``records`` are in the file (when they change it).

        Raises:
            TranscriptError: the file cannot be written; what was written of it is taken back.
        """
        if self.dirty:
            self.save_whole()
            return
        data = self._encode(records)
        try:
            self._hold_lock()
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | CLOEXEC | NOFOLLOW | getattr(os, "O_NONBLOCK", 0)
            fd = os.open(self.path, flags, 0o600)
            try:
                info = os.fstat(fd)
                refused = changeable_by_others(info) or (None if stat.S_ISREG(info.st_mode) else "is not a file")
                if refused:
                    self.dirty = True
                    raise TranscriptError(f"autosave to {self.path} stopped: it {refused}")
                end = info.st_size
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
            if settings is not None:
                self._in_force = settings
        except SessionBusy as busy:
            self.dirty = True
            raise TranscriptError(f"autosave to {self.path} stopped: the session is {busy}") from None
        except OSError as error:
            self.dirty = True
            raise TranscriptError(f"autosave to {self.path} failed: {error.strerror or error}") from None

    def save_whole(self) -> None:
        """Rewrite the file from the conversation in memory (after a failed write), atomically, readable only by
        the user.

        Raises:
            TranscriptError: it cannot be written (the file keeps what it had).
        """
        try:
            self._hold_lock()
        except SessionBusy as busy:
            raise TranscriptError(f"autosave to {self.path} stopped: the session is {busy}") from None
        except OSError as error:
            raise TranscriptError(f"autosave to {self.path} failed: {error.strerror or error}") from None
        records, settings = self._snapshot()
        write_file(self.path, self._encode(records), overwrite=True, error=TranscriptError, mode=0o600)
        self._in_force = settings
        self.dirty = False
        self._started = True

    def _hold_lock(self) -> None:
        if self._lock is None:
            self._lock = SessionLock(self.path)

    def _snapshot(self) -> tuple[list[dict[str, Any]], Settings]:
        """The whole conversation as records, and the settings they leave in force.

        Replaying the records gives the conversation back, every turn with its own settings: a settings record
        stands before each message sent with other settings than the one before it (and before a reply with
        another system prompt); the conversation's own settings come last if they differ.
        """
        conversation = self.conversation
        turns = conversation.turns
        current = settings_record(conversation)
        first = {**_turn_settings(turns[0]), "web": conversation.web} if turns else current
        settings = put_in_force(first, BEFORE_ANY)
        if settings is None:
            first, settings = current, put_in_force(current, BEFORE_ANY) or in_force(conversation)
        header = {"format": SESSION_FORMAT, "version": SESSION_VERSION, "id": conversation.id}
        if conversation.origin is not None:
            header["origin"] = conversation.origin._asdict()
        records = [{"event": "session", **header, "created": conversation.created}, {"event": "settings", **first}]
        if conversation.named:
            records.append(_title_line(conversation))
        records.extend({"event": "document", **document_record(d)} for d in conversation.documents)
        for turn in turns:
            change = _change_before(turn, settings)
            if change is not None:
                records.append(change[0])
                settings = change[1]
            records.append(_turn_line(turn, settings))
        last = _settings_change(current, settings)
        if last is not None:
            records.append(last[0])
            settings = last[1]
        if conversation.context_start:
            records.append({"event": "context", "context_start": conversation.context_start})
        if self._pending:
            records.append({"event": "withdraw", "pending": self._pending})
        records.extend({"event": "output", **output_record(output)} for output in conversation.outputs)
        return records, settings

    def turn(self, *turns: Turn) -> None:
        """Record messages or replies, in order, in one write (the first also writes what came before)."""
        if any(turn.role == "user" for turn in turns):
            self._pending = ""
        if not self._started:
            self._created_here = True
            records, settings = self._snapshot()
            self._append(*records, settings=settings)
        else:
            self._append(*(_turn_line(turn, self._in_force) for turn in turns))
        self._started = True

    def document(self, document: Document) -> None:
        """Record a document added to the conversation."""
        if self._started:
            self._append({"event": "document", **document_record(document)})

    def documents_cleared(self) -> None:
        if self._started:
            self._append({"event": "documents_cleared"})

    def output(self, output: Output) -> None:
        """Record a shell command's output waiting for the next message."""
        if self._started:
            self._append({"event": "output", **output_record(output)})

    def outputs_cleared(self) -> None:
        if self._started:
            self._append({"event": "outputs_cleared"})

    def context(self) -> None:
        """Record which turns are still sent (after trimming to fit the window)."""
        if self._started:
            self._append({"event": "context", "context_start": self.conversation.context_start})

    def settings(self) -> None:
        """Record a change of model, temperature, system prompt, thinking or web search: what changed (before the
        first message: nothing)."""
        if self._started:
            change = _settings_change(settings_record(self.conversation), self._in_force)
            if change is not None:
                self._append(change[0], settings=change[1])

    def withdraw(self, text: str) -> None:
        """Record that the last user message got no reply and was taken back to the prompt, as ``text``.

        The text stays in the file as the pending message, so that it comes back after a crash too, until
        the next message is sent.
        """
        self._pending = text
        if self._started:
            self._append({"event": "withdraw", "pending": text})

    def title(self) -> None:
        """Record the title given to the conversation (or that it was taken back)."""
        if self._started:
            self._append(_title_line(self.conversation))

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
