"""The sessions folder: :class:`SessionStore` checks that no one else can change it or its files, lists and
searches the sessions in it, finds one by number or id, and takes one up again (locked, repaired, cut back to what
replays) for its :class:`~kimi_repl.sessions.writer.SessionLog`."""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from kimi_repl.conversation import Conversation
from kimi_repl.identity import Origin, new_session_id, title_of
from kimi_repl.records import TranscriptError
from kimi_repl.redaction import MIN_SECRET_CHARS, REDACTED, Secret
from kimi_repl.safefiles import (
    CLOEXEC,
    NOFOLLOW,
    changeable_by_others,
    open_regular,
    trusted_folder,
    write_all,
    write_file,
)
from kimi_repl.sanitize import escaped_in_json
from kimi_repl.sessions.format import MARKER, SAFE_ID, SESSION_VERSION, SUFFIX
from kimi_repl.sessions.index import Listed, SessionIndex, Stamp, listed
from kimi_repl.sessions.lines import chunks_of, line_blocks, split_lines
from kimi_repl.sessions.replay import Replay, replay_lines
from kimi_repl.sessions.writer import SessionBusy, SessionLock, SessionLog, Writer


class SessionInfo(NamedTuple):
    """One saved session, for /sessions."""

    id: str
    path: Path
    modified: float
    title: str
    turns: int
    model: str
    system: str = ""
    origin: Origin | None = None

    @property
    def labels(self) -> list[str]:
        """What a quick filter looks at (see :func:`matches`): the title and the system prompt, as /sessions WORDS
        does (not the id or the model: digits typed would match nearly every session by its date)."""
        return [self.title, self.system]


def needles_of(words: list[str]) -> list[str]:
    """The words a search looks for, as :func:`matches` compares them."""
    return [word.casefold() for word in words if word.strip()]


def matches(needles: list[str], texts: list[str]) -> bool:
    """Whether every one of ``needles`` (from :func:`needles_of`) is in some of ``texts``, ignoring case: the one
    matching rule of /sessions WORDS, ``--sessions WORDS`` and the session picker."""
    folded = [text.casefold() for text in texts]
    return all(any(needle in text for text in folded) for needle in needles)


class Listing(NamedTuple):
    """Sessions, most recent first, and a line for each file passed over that might have held one."""

    sessions: list[SessionInfo]
    problems: list[str]


class Found(NamedTuple):
    """Sessions that mention some words (each with a line that does), and a line for each file not searched."""

    sessions: list[tuple[SessionInfo, str]]
    problems: list[str]


def _listed(result: Replay) -> Listed:
    """What a listing shows of a replayed session."""
    conversation = result.conversation
    title = conversation.title or title_of(result.pending)
    turns = len(conversation.turns)  # answered turns: a message that got no reply is not one (as /sessions delete says)
    system = conversation.system or ""
    return listed(conversation.id, title, turns, conversation.model, system, conversation.origin)


def _info(path: Path, shown: Listed, modified: float) -> SessionInfo:
    return SessionInfo(shown.id, path, modified, shown.title, shown.turns, shown.model, shown.system, shown.origin)


def _searched(conversation: Conversation, pending: str) -> list[str]:
    """What a search of a session looks in: its title, system prompts, messages and replies."""
    systems = dict.fromkeys(turn.system for turn in conversation.turns if turn.system)
    texts = [turn.content for turn in conversation.turns] + [pending]
    return [conversation.title, conversation.system or "", *systems, *texts]


def _matching_line(texts: list[str], needle: str, width: int = 70) -> str:
    """The first line of ``texts`` holding ``needle`` (case-insensitive), cut to about ``width`` around it."""
    for text in texts:
        for line in text.splitlines():
            at = line.casefold().find(needle)
            if at >= 0 and len(line.strip()) <= width:
                return line.strip()
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


class SessionStore:
    """The folder of session files: one that no one but the user can change
    (:func:`~kimi_repl.safefiles.trusted_folder`).

    Raises:
        NotPrivate: the folder is not the user's alone.
    """

    def __init__(self, folder: Path, *, secret: str | None, write: Writer = write_all) -> None:
        self.folder = trusted_folder(folder, what="the sessions folder", so="sessions there cannot be trusted")
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

    def _read(self, path: Path, *, slim: bool = False) -> tuple[Replay, os.stat_result]:
        """Replay ``path`` (see :meth:`_open`); return what it holds and what ``fstat`` said of it.

        Raises:
            TranscriptError: it cannot be read.
        """
        fd, info = self._open(path)
        try:
            result = replay_lines(split_lines(chunks_of(fd)), str(path), name=path.stem, key=self._key, slim=slim)
        except OSError as error:
            raise TranscriptError(f"{path} cannot be read: {error.strerror or error}") from None
        finally:
            os.close(fd)
        return result, info

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
            lines = split_lines(chunks_of(fd))
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
                    write_file(copy, chunks_of(fd), overwrite=True, error=TranscriptError, mode=0o600)
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
        return [path for path, _ in self._newest_first()]

    def _newest_first(self) -> Iterator[tuple[Path, os.stat_result]]:
        """:meth:`paths`, each with what ``lstat`` says of it, made only when wanted (a big folder's listing
        wants a few)."""
        found: list[tuple[float, str, os.stat_result]] = []
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return
        for entry in entries:
            if entry.name.endswith(SUFFIX):
                with contextlib.suppress(OSError):
                    info = entry.stat(follow_symlinks=False)
                    found.append((info.st_mtime, entry.name, info))
        found.sort(key=lambda item: item[:2], reverse=True)
        for _, name, info in found:
            yield self.folder / name, info

    def scan(self, limit: int | None = 20) -> Listing:
        """The ``limit`` most recent sessions that hold something, and why each file before the last of them
        was passed over, unless it holds nothing at all (a session left empty)."""
        sessions: list[SessionInfo] = []
        problems: list[str] = []
        index = SessionIndex(self.folder)
        seen: set[str] = set()
        for path, info in self._newest_first():
            seen.add(path.name)
            known, shown = index.get(path.name, Stamp(info.st_size, info.st_mtime_ns))
            if not known:
                try:
                    result, read = self._read(path, slim=True)
                except TranscriptError as error:
                    problems.append(str(error))
                    continue
                empty = not result.conversation.turns and not result.pending
                if empty and result.damaged_line is not None:
                    problems.append(f"{path} is damaged at line {result.damaged_line}, before anything in it")
                    continue
                shown = None if empty else _listed(result)
                index.put(path.name, Stamp(read.st_size, read.st_mtime_ns), shown)
            if shown is None:
                continue
            sessions.append(_info(path, shown, info.st_mtime))
            if limit is not None and len(sessions) >= limit:
                break
        else:
            index.keep_only(seen)
        index.save()
        return Listing(sessions, problems)

    def catalog(self) -> Listing:
        """Every session that holds something, most recent first (for the session picker)."""
        return self.scan(None)

    def recent(self, limit: int = 20) -> list[SessionInfo]:
        """The ``limit`` most recent sessions that can be read and hold something."""
        return self.scan(limit).sessions

    def find(self, key: str, *, listing: str = "/sessions") -> Path:
        """The session named by ``key``: its number in the list ``listing`` shows, its id, or the start of its id.

        Raises:
            TranscriptError: no session, or more than one, matches.
        """
        key = key.strip()
        if not key:
            raise TranscriptError(f"no session named: give its number in {listing} or its id")
        if key.isdecimal() and key.isascii() and len(key) <= 3:
            recent = self.recent()
            if not 1 <= int(key) <= len(recent):
                raise TranscriptError(f"there is no session number {key}; {listing} lists them")
            return recent[int(key) - 1].path
        matches = [p for p in self.paths() if p.stem.startswith(key)]
        exact = [p for p in matches if p.stem == key]
        if exact:
            return exact[0]
        if not matches:
            raise TranscriptError(f"no saved session {key!r}; {listing} lists them")
        if len(matches) > 1:
            raise TranscriptError(f"{key!r} matches {len(matches)} sessions; type more of the id")
        return matches[0]

    def search(self, words: list[str], limit: int = 20) -> list[tuple[SessionInfo, str]]:
        """The ``limit`` most recent sessions in which every word appears, each with a line that does (see
        :meth:`scan_for`)."""
        return self.scan_for(words, limit).sessions

    def scan_for(self, words: list[str], limit: int | None = 20, *, stop: Callable[[], bool] | None = None) -> Found:
        """The ``limit`` most recent sessions in which every word appears in the title, a system prompt or a turn
        (case-insensitive; see :func:`matches`), each with a line that matches; and why each file that could not be
        searched was not. ``stop`` is asked before each file: True ends the search there (the picker's, when the
        words typed change).

        Files are first read line by line as raw text (every word must be there somewhere: most sessions stop
        here); only those left are replayed and checked turn by turn.
        """
        needles = needles_of(words)
        plain = [n for n in needles if not escaped_in_json(n)]  # written as they are: look for them in the raw file
        found: list[tuple[SessionInfo, str]] = []
        problems: list[str] = []
        for path, _ in self._newest_first():
            if stop is not None and stop():
                break
            try:
                fd, info = self._open(path)
                try:
                    if not _mentions(fd, plain):
                        continue
                    os.lseek(fd, 0, os.SEEK_SET)
                    result = replay_lines(split_lines(chunks_of(fd)), str(path), name=path.stem, key=self._key)
                finally:
                    os.close(fd)
            except OSError as error:
                problems.append(f"{path} cannot be read: {error.strerror or error}")
                continue
            except TranscriptError as error:
                problems.append(str(error))
                continue
            texts = _searched(result.conversation, result.pending)
            if not matches(needles, texts):
                continue
            line = _matching_line(texts, needles[0] if needles else "")
            found.append((_info(path, _listed(result), info.st_mtime), line))
            if limit is not None and len(found) >= limit:
                break
        return Found(found, problems)

    def open_elsewhere(self, path: Path) -> str | None:
        """Why the session in ``path`` cannot be deleted now (another kimi-repl has it open), or None."""
        try:
            SessionLock(path).release()
        except SessionBusy as busy:
            return f"{path.stem} is {busy}: close it there first"
        except OSError:
            return None  # the delete says what is wrong
        return None

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


# -- reading files quickly ------------------------------------------------------------------------


def _mentions(fd: int, needles: list[str]) -> bool:
    """Whether every one of ``needles`` may be somewhere in the rest of the open file ``fd`` (case-insensitive;
    no needle spans lines, since JSON writes a line break as ``\\n``).

    A file with the redaction marker may be one an older kimi-repl mangled (a key replaced inside words): it
    may mention anything, until it is repaired.
    """
    left = set(needles)
    for block in line_blocks(chunks_of(fd)):
        if not left:
            break
        if MARKER in block:
            return True
        folded = block.decode("utf-8", "replace").casefold()
        left = {needle for needle in left if needle not in folded}
    return not left


def _cut(path: Path, size: int) -> None:
    """Cut the file back to its first ``size`` bytes (not through a symbolic link; best effort)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_WRONLY | CLOEXEC | NOFOLLOW)
        try:
            os.ftruncate(fd, size)
        finally:
            os.close(fd)
