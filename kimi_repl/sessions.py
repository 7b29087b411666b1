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
- **Settings once per change.** A settings record says what changes of the model, temperature, system prompt,
  thinking choice and web search in force (the first says all of them); a turn record leaves out what the
  settings in force already say, and replay fills it in.
- **Any size.** A file is read line by line, one line of at most :data:`MAX_LINE_BYTES` in memory at a time;
  a session that cannot be read is never passed over without a line saying why.
- **Only the user's files.** The folder, and each file read from it, must be ones no one else can change
  (as ssh's StrictModes demands of ``~/.ssh``); files are opened without following symbolic links.

Format versions: 3 (now): turns and settings records leave out what is in force; the key is redacted in text
values only.
2: every turn carried its settings, and the key was replaced in the raw text, ids and numbers too; such a file
is repaired when the key is known (:func:`replay`), and rewritten as version 3 when it is resumed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, NamedTuple

from kimi_repl.conversation import Conversation, Document, Turn, new_session_id, title_of
from kimi_repl.files import (
    CHUNK_BYTES,
    CLOEXEC,
    NOFOLLOW,
    NotPrivate,
    changeable_by_others,
    open_regular,
    write_all,
    write_file,
)
from kimi_repl.profile import DEFAULT_MODEL
from kimi_repl.redaction import MIN_SECRET_CHARS, REDACTED, Secret, unredact
from kimi_repl.sanitize import escaped_in_json, json_dumps
from kimi_repl.transcript import (
    MAX_FILE_BYTES,
    OLD_REDACTION,
    TranscriptError,
    apply_settings,
    document_from_record,
    document_record,
    encode,
    from_json,
    from_markdown,
    settings_record,
    turn_from_record,
    turn_record,
)

if sys.platform == "win32":  # pragma: no cover - no flock: msvcrt locks a byte of the lock file instead
    import msvcrt

    def _try_lock(fd: int) -> None:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            raise BlockingIOError from None

else:
    import fcntl

    def _try_lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


SESSION_FORMAT = "kimi-repl-session"
SESSION_VERSION = 3
"""3: records leave out the settings in force; the key is redacted in text values only (see the module)."""
SUFFIX = ".jsonl"
LOCK_SUFFIX = ".lock"
SAFE_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,63}")
MAX_LINE_BYTES = 1024 * 1024 * 1024


def _mb(count: int) -> str:
    return f"{count >> 30} GB" if count >= 1 << 30 else f"{count >> 20} MB"


"""The longest line read: a record longer than that is damage (every file that loaded before loads)."""
TURN_SETTINGS = ("model", "temperature", "system", "thinking")
"""What a turn shares with the settings in force."""
SETTINGS = (*TURN_SETTINGS, "web")
"""What a settings record sets (web search is the conversation's alone, not a turn's)."""
EVENTS = frozenset({"settings", "turn", "withdraw", "undo", "document", "documents_cleared", "context"})
_MARKER = REDACTED.encode()

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
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | CLOEXEC | NOFOLLOW, 0o600)
        try:
            _try_lock(fd)
        except BlockingIOError:
            holder = ""
            with contextlib.suppress(OSError):
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


# -- settings in force ----------------------------------------------------------------------------


Settings = dict[str, Any]
"""The settings in force, by :data:`SETTINGS` name."""


def in_force(conversation: Conversation) -> Settings:
    """The conversation's settings."""
    return {name: getattr(conversation, name) for name in SETTINGS}


BEFORE_ANY = in_force(Conversation(model=DEFAULT_MODEL, id=""))
"""What is in force before a file's first settings record."""


def _put_in_force(record: dict[str, Any], settings: Settings) -> Settings | None:
    """What replaying the settings ``record`` over ``settings`` puts in force (as replay checks and keeps it);
    None if the record is bad."""
    scratch = Conversation(model=DEFAULT_MODEL, id="")
    try:
        apply_settings(scratch, {**settings, **record}, "settings")
    except TranscriptError:
        return None
    return in_force(scratch)


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
    after = _put_in_force(record, settings)
    return None if after is None or after == settings else (record, after)


def _turn_settings(turn: Turn) -> dict[str, Any]:
    return {name: getattr(turn, name) for name in TURN_SETTINGS}


def _change_before(turn: Turn, settings: Settings) -> tuple[dict[str, Any], Settings] | None:
    """A settings record to write before ``turn``, and what it puts in force; None when the turn has no
    differences, or is better off carrying them itself (a reply's own model or thinking)."""
    if turn.role == "assistant" and turn.system == settings["system"]:
        return None
    return _settings_change(_turn_settings(turn), settings)


# -- writing ---------------------------------------------------------------------------------------


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
        settings = _put_in_force(first, BEFORE_ANY)
        if settings is None:
            first, settings = current, _put_in_force(current, BEFORE_ANY) or in_force(conversation)
        header = {"format": SESSION_FORMAT, "version": SESSION_VERSION, "id": conversation.id}
        records = [{"event": "session", **header, "created": conversation.created}, {"event": "settings", **first}]
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
        ends_with_newline: what replayed ends with a newline (else appending would glue onto its last line).
        damaged_line: the first line that could not be read, or None.
        damage_buried: valid lines followed the damage (not just a torn last write).
        too_long: the damaged line is longer than :data:`MAX_LINE_BYTES`.
        mangled: the damaged line is an older kimi-repl's redaction of a key that is not known (see the module):
            it and what follows are left as they are.
        version: the format version the file's header says.
        repaired: lines an older kimi-repl's redaction had mangled, put right with the key.
        holds_key: some line holds the key the replay was asked to watch for.
    """

    conversation: Conversation
    pending: str = ""
    good_bytes: int = 0
    ends_with_newline: bool = True
    damaged_line: int | None = None
    damage_buried: bool = False
    too_long: bool = False
    mangled: bool = False
    version: int = SESSION_VERSION
    repaired: int = 0
    holds_key: bool = False
    notes: list[str] = field(default_factory=list)


class _Line(NamedTuple):
    text: bytes | None
    """The line without its newline; None when it is longer than the limit (it is not kept)."""
    end: int
    """The offset just after it (and its newline)."""
    newline: bool
    """Whether a newline ends it (the last line of a torn write has none)."""


def _lines(chunks: Iterable[bytes], limit: int | None = None) -> Iterator[_Line]:
    """The lines of the bytes that ``chunks`` make up, keeping at most ``limit`` bytes of a line in memory
    (:data:`MAX_LINE_BYTES` unless given)."""
    limit = MAX_LINE_BYTES if limit is None else limit
    pieces: list[bytes] = []
    size = offset = 0
    for chunk in chunks:
        start = 0
        while True:
            newline = chunk.find(b"\n", start)
            stop = len(chunk) if newline < 0 else newline
            size += stop - start
            if size <= limit:
                pieces.append(chunk[start:stop])
            elif pieces:
                pieces = []
            if newline < 0:
                break
            offset += size + 1
            yield _Line(b"".join(pieces) if size <= limit else None, offset, True)
            pieces, size, start = [], 0, newline + 1
    if size:
        yield _Line(b"".join(pieces) if size <= limit else None, offset + size, False)


def _chunks(fd: int) -> Iterator[bytes]:
    """What is left of the open file ``fd``, a chunk at a time (Ctrl-C stops it between two)."""
    while chunk := os.read(fd, CHUNK_BYTES):
        yield chunk


def replay(data: bytes, where: str, *, name: str | None = None, key: str | None = None, slim: bool = False) -> Replay:
    """Replay a session file's bytes: see :func:`replay_lines`."""
    return replay_lines(_lines([data]), where, name=name, key=key, slim=slim)


def replay_lines(
    lines: Iterable[_Line],
    where: str,
    *,
    name: str | None = None,
    key: str | None = None,
    slim: bool = False,
    watch: Secret | None = None,
) -> Replay:
    """Replay a session file, line by line.

    A version 2 file written with a short key had the key replaced by ``[API key removed]`` everywhere; its lines
    are repaired with the key the header's id gives away (compared with ``name``, the file's name, which is its
    id) or else with ``key``, the short key in use now (:func:`~kimi_repl.redaction.unredact` checks each).

    Args:
        slim: keep of each turn only what a listing shows (the first line of a message), not its text.
        watch: the key to look for (:attr:`Replay.holds_key`).

    Raises:
        TranscriptError: not a kimi-repl session file (nothing of one could be read), or a newer format.
    """
    result = Replay(Conversation(model=DEFAULT_MODEL))
    conversation = result.conversation
    pending = [""]  # the message taken back to the prompt, as the last withdraw said
    header_seen = False
    header_mangled = False
    keys: list[str] = []  # keys an older kimi-repl's redaction may have replaced in this file
    iterator = iter(lines)
    for number, line in enumerate(iterator, 1):
        text = line.text
        if text is not None and not text.strip():
            result.good_bytes, result.ends_with_newline = line.end, line.newline
            continue
        try:
            if text is None:
                result.too_long = True
                raise ValueError("too long")
            if not header_seen:
                header_mangled = _MARKER in text
                keys = _old_keys(text, name, key)
            record, fixed = _parse(text, keys)
            if header_seen:
                if result.version < SESSION_VERSION and _MARKER in text and record.get("event") not in EVENTS:
                    raise ValueError("an event mangled by an older kimi-repl's redaction")
                _apply(conversation, record, f"{where}, line {number}", pending, slim)
            else:
                result.version = _read_header(conversation, record, where)
                header_seen = True
                if result.version >= SESSION_VERSION:
                    keys = []  # written since redaction leaves the structure alone: nothing to repair
            result.repaired += fixed
            if watch and watch.found_in(text.decode("utf-8", "replace")):
                result.holds_key = True
        except NewerFormat:
            raise
        except (TranscriptError, ValueError, RecursionError):
            result.damaged_line = number
            if header_seen and result.version < SESSION_VERSION and text and _MARKER in text and line.newline:
                result.mangled = True  # a whole line, not a torn write: its key is not known
            result.damage_buried = any(rest.text is None or rest.text.strip() for rest in iterator)
            break
        result.good_bytes, result.ends_with_newline = line.end, line.newline
    if not header_seen:
        if header_mangled:
            raise TranscriptError(f"{where} cannot be read: {OLD_REDACTION}")
        if result.too_long:
            raise TranscriptError(
                f"{where} is not a kimi-repl session file (its first line is over {_mb(MAX_LINE_BYTES)})"
            )
        raise TranscriptError(f"{where} is not a kimi-repl session file (or nothing of it was written)")
    if result.damaged_line is not None and (result.damage_buried or result.too_long or result.mangled):
        why = (
            f" (it is longer than {_mb(MAX_LINE_BYTES)}, more than a session line can be)"
            if result.too_long
            else f" ({OLD_REDACTION})"
            if result.mangled
            else ""
        )
        result.notes.append(
            f"⚠ {where} is damaged at line {result.damaged_line}{why}: what came before it is loaded, the rest is not."
        )
    last = conversation.turns[-1] if conversation.turns else None
    if last is not None and last.role == "user":
        result.pending = conversation.remove_last(1)[0].content
    else:
        result.pending = pending[0]
    return result


def _old_keys(header: bytes, name: str | None, key: str | None) -> list[str]:
    """The keys an older kimi-repl may have replaced everywhere in a file: first the one its mangled ``header``
    gives away (its id, with the key put back, must be ``name``), then ``key`` if it is short."""
    keys: list[str] = []
    # A session id is about 20 characters: a longer name (a /load of any file) is no id, and its substrings
    # would make this quadratic.
    if name and len(name) <= 64 and _MARKER in header and name.encode() not in header:
        text = header.decode("utf-8", "replace")
        sizes = range(min(len(name), MIN_SECRET_CHARS - 1), 0, -1)
        for candidate in dict.fromkeys(name[start : start + size] for size in sizes for start in range(len(name))):
            if not candidate or name.replace(candidate, REDACTED) not in text:
                continue  # the id, mangled with this key, is not in the header
            restored = unredact(text, candidate)
            with contextlib.suppress(ValueError, RecursionError, AttributeError):
                if restored is not None and json.loads(restored).get("id") == name:
                    keys.append(candidate)
                    break
    if key and len(key) < MIN_SECRET_CHARS and key not in keys:
        keys.append(key)
    return keys


def _parse(line: bytes, keys: list[str]) -> tuple[dict[str, Any], bool]:
    """The record on ``line``, and whether it had to be repaired with one of ``keys`` (see :func:`_old_keys`).

    Raises:
        ValueError, RecursionError: it is not a JSON object, repaired or not.
    """
    if keys and _MARKER in line:
        text = line.decode("utf-8", "replace")
        for key in keys:
            restored = unredact(text, key)
            if restored is None:
                continue
            with contextlib.suppress(ValueError, RecursionError):
                record = json.loads(restored)
                if isinstance(record, dict):
                    return record, True
    record = json.loads(line)
    if not isinstance(record, dict):
        raise ValueError("not an object")
    return record, False


def _read_header(conversation: Conversation, record: dict[str, Any], where: str) -> int:
    """Take the id and time from a header; return its format version."""
    if record.get("event") != "session" or record.get("format") != SESSION_FORMAT:
        raise ValueError("not a session header")
    version = record.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version > SESSION_VERSION:
        raise NewerFormat(f"{where} was written by a newer kimi-repl (format version {version})")
    session_id = record.get("id")
    if isinstance(session_id, str) and session_id:
        conversation.id = session_id  # shown, never used as a path: the store names files itself
    created = record.get("created")
    if isinstance(created, (int, float)) and not isinstance(created, bool):
        conversation.created = float(created)
    return version


def _turn_defaults(conversation: Conversation) -> dict[str, Any]:
    """What a turn record leaves out: the settings in force (as :func:`in_force` has them, but quicker)."""
    return {
        "model": conversation.model,
        "temperature": conversation.temperature,
        "system": conversation.system,
        "thinking": conversation.thinking,
    }


def _gist(turn: Turn) -> Turn:
    """``turn``, a fresh one, cut down to what a listing needs: its role, and a message's title (see
    :func:`title_of`)."""
    turn.content = title_of(turn.content) if turn.role == "user" else ""
    turn.reasoning_content, turn.images, turn.searches, turn.usage, turn.spent = "", [], [], None, None
    return turn


def _apply(conversation: Conversation, record: dict[str, Any], place: str, pending: list[str], slim: bool) -> None:
    """Replay one event, keeping the turns alternating whatever the file says.

    Args:
        pending: holds the message last taken back to the prompt (updated here).
        slim: keep only the gist of turns (:func:`_gist`).

    Raises:
        TranscriptError, ValueError: the record is damaged.
    """
    event = record.get("event")
    turns = conversation.turns
    if event == "settings":
        apply_settings(conversation, {**in_force(conversation), **record}, place)
    elif event == "turn":
        turn = turn_from_record({**_turn_defaults(conversation), **record}, place)
        if slim:
            turn = _gist(turn)
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


def _is_session(start: bytes) -> bool:
    """Whether a file beginning with ``start`` is a session file (its first line an event, or mangled like one)."""
    first = start.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0]
    return first.startswith((b"{", _MARKER)) and (b'"event"' in first or _MARKER in first)


def load_file(path: Path, *, key: str | None = None) -> tuple[Conversation, str]:
    """Load a JSON or Markdown transcript written by /save, or a session file (read line by line, any size).

    Args:
        key: the API key in use: a file an older kimi-repl wrote with it, when it is short, is repaired.

    Returns:
        The conversation (ending with a reply), and the text of a last message that had no reply ("").

    Raises:
        TranscriptError: with one line saying what is wrong with the file.
    """
    where = str(path)
    fd, _ = open_regular(path, kind="a transcript", error=TranscriptError)
    try:
        start = os.read(fd, CHUNK_BYTES)
        if _is_session(start):
            lines = _lines(chain([start], _chunks(fd)))
            result = replay_lines(lines, where, name=path.stem, key=key)
            return result.conversation, result.pending
        data = _read_rest(fd, start, path)
    except OSError as error:
        raise TranscriptError(f"{path} cannot be read: {error.strerror or error}") from None
    finally:
        os.close(fd)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise TranscriptError(f"{path} is not a text file (not UTF-8)") from None
    kind = _transcript_kind(text)
    if kind is None and key and len(key) < MIN_SECRET_CHARS:  # its start mangled by an older kimi-repl?
        kind = _transcript_kind(unredact(text, key) or "")
    if kind == "json":
        conversation = from_json(text, where, key=key)
    elif kind == "markdown":
        conversation = from_markdown(text.lstrip("\ufeff"), where, key=key)
    else:
        raise TranscriptError(f"{where} is not a kimi-repl transcript (a .json or .md from /save, or a session)")
    return conversation, take_pending(conversation)


def _transcript_kind(text: str) -> str | None:
    start = text.lstrip("\ufeff \t\r\n")
    if start.startswith("{"):
        return "json"
    if start.startswith("<!-- kimi-repl:transcript"):
        return "markdown"
    return None


def _read_rest(fd: int, start: bytes, path: Path) -> bytes:
    """``start`` and the rest of the file ``fd``, refusing more than :data:`MAX_FILE_BYTES` (a transcript is read
    whole)."""
    chunks, total = [start], len(start)
    for chunk in _chunks(fd):
        total += len(chunk)
        if total > MAX_FILE_BYTES:
            raise TranscriptError(f"{path} is bigger than {MAX_FILE_BYTES // 1_048_576} MB, too big for a transcript")
        chunks.append(chunk)
    return b"".join(chunks)


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


class Listing(NamedTuple):
    """Sessions, most recent first, and a line for each file passed over that might have held one."""

    sessions: list[SessionInfo]
    problems: list[str]


class Found(NamedTuple):
    """Sessions that mention some words (each with a line that does), and a line for each file not searched."""

    sessions: list[tuple[SessionInfo, str]]
    problems: list[str]


def _info(path: Path, result: Replay, modified: float) -> SessionInfo:
    conversation, pending = result.conversation, result.pending
    title = conversation.title or title_of(pending)
    turns = len(conversation.turns)  # answered turns: a message that got no reply is not one (as /sessions delete says)
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
    """A session taken up again: its conversation and, unless it is left as it is, its log.

    Attributes:
        log: None when the session is left alone (``why`` says why): the caller forks it.
        busy: another process holds it.
    """

    conversation: Conversation
    pending: str
    log: SessionLog | None
    busy: SessionBusy | None = None
    notes: list[str] = field(default_factory=list)
    why: str = ""


def _quoted(path: Path) -> str:
    return shlex.quote(str(path))


def trusted_folder(folder: Path) -> Path:
    """``folder`` as it really is (symbolic links resolved), if no one but the user (or root) can change it; a
    missing folder is taken as it is (writing in it fails, and says so).

    Raises:
        NotPrivate: someone else owns it or can write in it (the message says how to fix it).
    """
    real = Path(os.path.realpath(folder))
    try:
        info = os.stat(real)
    except OSError:
        return real
    why = changeable_by_others(info)
    if why is None:
        return real
    shown = str(folder) if real == Path(os.path.abspath(folder)) else f"{folder} (a link to {real})"
    if why.startswith("belongs"):
        fix = "point it at a folder of yours" if real != Path(os.path.abspath(folder)) else "remove it or make it yours"
    else:
        fix = f"chmod 700 {_quoted(real)}"
    raise NotPrivate(f"the sessions folder {shown} {why}, so sessions there cannot be trusted: {fix}")


class SessionStore:
    """The folder of session files: one that no one but the user can change (see :func:`trusted_folder`).

    Raises:
        NotPrivate: the folder is not the user's alone.
    """

    def __init__(self, folder: Path, *, secret: str | None, write: Writer = write_all) -> None:
        self.folder = trusted_folder(folder)
        self._secret = secret
        self._key = secret if secret and len(secret) < MIN_SECRET_CHARS else None  # a short key: files to repair
        self._watch = Secret(secret)  # a real key: files that hold it are rewritten without it
        self._write = write

    def new_log(self, conversation: Conversation) -> SessionLog:
        """A log for a new conversation (its file appears with the first message).

        An id that is not a plain name, or that another session already has, is replaced: ids can come
        from files, and must never lead outside the folder or into another session.
        """
        taken = SAFE_ID.fullmatch(conversation.id) and os.path.lexists(self.folder / f"{conversation.id}{SUFFIX}")
        if not SAFE_ID.fullmatch(conversation.id) or taken:
            conversation.id = new_session_id()
        return SessionLog(
            self.folder / f"{conversation.id}{SUFFIX}", conversation, secret=self._secret, write=self._write
        )

    def _open(self, path: Path) -> tuple[int, os.stat_result]:
        """``path`` opened to read: a session file (not a symbolic link) that no one but the user can change.

        Raises:
            TranscriptError: it is not (one line saying why, and what to do).
        """
        fd, info = open_regular(path, kind="a session file", error=TranscriptError, follow_symlinks=False)
        why = changeable_by_others(info)
        if why is None:
            return fd, info
        os.close(fd)
        fix = f"chmod 600 {_quoted(path)} if it is yours" if why.startswith("can") else "remove it if it is not yours"
        raise TranscriptError(f"{path} {why}, so kimi-repl does not trust it ({fix})")

    def _read(self, path: Path, *, slim: bool = False) -> tuple[Replay, float]:
        """Replay ``path`` (see :meth:`_open`); return what it holds and when it was last changed.

        Raises:
            TranscriptError: it cannot be read.
        """
        fd, info = self._open(path)
        try:
            result = replay_lines(_lines(_chunks(fd)), str(path), name=path.stem, key=self._key, slim=slim)
        except OSError as error:
            raise TranscriptError(f"{path} cannot be read: {error.strerror or error}") from None
        finally:
            os.close(fd)
        return result, info.st_mtime

    def resume(self, path: Path) -> Resumed:
        """Take up the session in ``path``: lock it, load it, and put the file right before anything is appended.

        Putting it right: a torn tail is cut off (a copy of the file is kept first if valid lines followed the
        damage); a file an older kimi-repl wrote, or one that holds the key, is rewritten whole. A file with
        lines that could not be repaired is left as it is: it is forked (``log`` is None).

        Raises:
            TranscriptError: it cannot be read, or is not to be trusted.
        """
        try:
            lock: SessionLock | None = SessionLock(path)
        except SessionBusy as busy:
            result, _ = self._read(path)
            return Resumed(result.conversation, result.pending, None, busy, result.notes, f"is {busy}")
        except OSError:
            lock = None  # an unwritable folder: the log will say so when it writes
        try:
            return self._take_up(path, lock)
        except BaseException:
            if lock is not None:
                lock.release()
            raise

    def _take_up(self, path: Path, lock: SessionLock | None) -> Resumed:
        fd, info = self._open(path)
        try:
            lines = _lines(_chunks(fd))
            result = replay_lines(lines, str(path), name=path.stem, key=self._key, watch=self._watch)
            notes = result.notes
            if result.mangled:
                if lock is not None:
                    lock.release()
                return Resumed(result.conversation, result.pending, None, None, notes, "could not be repaired whole")
            if result.damaged_line is not None and (result.damage_buried or result.too_long):
                with contextlib.suppress(TranscriptError, OSError):
                    os.lseek(fd, 0, os.SEEK_SET)
                    copy = path.with_suffix(".damaged")
                    write_file(copy, _chunks(fd), overwrite=True, error=TranscriptError, mode=0o600)
        except OSError as error:
            raise TranscriptError(f"{path} cannot be read: {error.strerror or error}") from None
        finally:
            os.close(fd)
        conversation = result.conversation
        log = SessionLog(
            path, conversation, secret=self._secret, exists=True, lock=lock, write=self._write, pending=result.pending
        )
        if result.version < SESSION_VERSION or result.repaired or result.holds_key:
            if result.repaired:
                notes.append(
                    f"Repaired {path.name}: an older kimi-repl had put '{REDACTED}' in place of the short API key "
                    "in it, ids and numbers too."
                )
            try:
                log.save_whole()
            except TranscriptError:
                log.dirty = True  # the next write tries again, and says why it cannot
        else:
            if result.good_bytes < info.st_size:
                _cut(path, result.good_bytes)
            if result.good_bytes and not result.ends_with_newline:
                log.dirty = True  # a last line without its newline: rewrite rather than append to it
        return Resumed(conversation, result.pending, log, notes=notes)

    def paths(self) -> list[Path]:
        """Whatever in the folder is named like a session file, most recently changed first."""
        return list(self._newest_first())

    def _newest_first(self) -> Iterator[Path]:
        """:meth:`paths`, each made only when it is wanted (a big folder's listing wants a few)."""
        found: list[tuple[float, str]] = []
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return
        for entry in entries:
            if entry.name.endswith(SUFFIX):
                with contextlib.suppress(OSError):
                    found.append((entry.stat(follow_symlinks=False).st_mtime, entry.name))
        for _, name in sorted(found, reverse=True):
            yield self.folder / name

    def scan(self, limit: int = 20) -> Listing:
        """The ``limit`` most recent sessions that hold something, and why each file before the last of them
        was passed over, unless it holds nothing at all (a session left empty)."""
        sessions: list[SessionInfo] = []
        problems: list[str] = []
        for path in self._newest_first():
            try:
                result, modified = self._read(path, slim=True)
            except TranscriptError as error:
                problems.append(str(error))
                continue
            if not result.conversation.turns and not result.pending:
                if result.damaged_line is not None:
                    problems.append(f"{path} is damaged at line {result.damaged_line}, before anything in it")
                continue
            sessions.append(_info(path, result, modified))
            if len(sessions) >= limit:
                break
        return Listing(sessions, problems)

    def recent(self, limit: int = 20) -> list[SessionInfo]:
        """The ``limit`` most recent sessions that can be read and hold something."""
        return self.scan(limit).sessions

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
        """The ``limit`` most recent sessions in which every word appears in some turn, each with a line that does
        (see :meth:`scan_for`)."""
        return self.scan_for(words, limit).sessions

    def scan_for(self, words: list[str], limit: int = 20) -> Found:
        """The ``limit`` most recent sessions in which every word appears in some turn (case-insensitive), each
        with a line that matches; and why each file that could not be searched was not.

        Files are first read line by line as raw text (every word must be there somewhere: most sessions stop
        here); only those left are replayed and checked turn by turn.
        """
        needles = [word.casefold() for word in words if word.strip()]
        plain = [n for n in needles if not escaped_in_json(n)]  # written as they are: look for them in the raw file
        found: list[tuple[SessionInfo, str]] = []
        problems: list[str] = []
        for path in self._newest_first():
            try:
                fd, info = self._open(path)
                try:
                    if not _mentions(fd, plain):
                        continue
                    os.lseek(fd, 0, os.SEEK_SET)
                    result = replay_lines(_lines(_chunks(fd)), str(path), name=path.stem, key=self._key)
                finally:
                    os.close(fd)
            except OSError as error:
                problems.append(f"{path} cannot be read: {error.strerror or error}")
                continue
            except TranscriptError as error:
                problems.append(str(error))
                continue
            texts = [turn.content for turn in result.conversation.turns] + [result.pending]
            folded = [text.casefold() for text in texts]
            if not all(any(needle in text for text in folded) for needle in needles):
                continue
            found.append((_info(path, result, info.st_mtime), _matching_line(texts, needles[0] if needles else "")))
            if len(found) >= limit:
                break
        return Found(found, problems)

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


def _mentions(fd: int, needles: list[str]) -> bool:
    """Whether every one of ``needles`` may be somewhere in the rest of the open file ``fd`` (case-insensitive;
    no needle spans lines, since JSON writes a line break as ``\\n``).

    A file with the redaction marker may be one an older kimi-repl mangled (a key replaced inside words): it
    may mention anything, until it is repaired.
    """
    left = set(needles)
    for block in _blocks(_chunks(fd)):
        if not left:
            break
        if _MARKER in block:
            return True
        folded = block.decode("utf-8", "replace").casefold()
        left = {needle for needle in left if needle not in folded}
    return not left


def _blocks(chunks: Iterable[bytes], limit: int | None = None) -> Iterator[bytes]:
    """The bytes that ``chunks`` make up, as blocks of whole lines (a chunk's worth, give or take a line), for
    scans that need no line numbers; a line longer than ``limit`` (which is no shorter than a chunk) is left
    out, as :func:`_lines` leaves it."""
    limit = MAX_LINE_BYTES if limit is None else limit
    pieces: list[bytes] = []  # the line the last chunk ended in
    size = 0
    for chunk in chunks:
        last = chunk.rfind(b"\n")
        if last < 0:
            size += len(chunk)
            pieces = [*pieces, chunk] if size <= limit else []
            continue
        first = chunk.find(b"\n")
        if size + first <= limit:
            yield b"".join([*pieces, chunk[: last + 1]])
        elif first < last:
            yield chunk[first + 1 : last + 1]
        rest = chunk[last + 1 :]
        pieces, size = [rest], len(rest)
    if 0 < size <= limit:
        yield b"".join(pieces)


def _cut(path: Path, size: int) -> None:
    """Cut the file back to its first ``size`` bytes (not through a symbolic link; best effort)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_WRONLY | CLOEXEC | NOFOLLOW)
        try:
            os.ftruncate(fd, size)
        finally:
            os.close(fd)
