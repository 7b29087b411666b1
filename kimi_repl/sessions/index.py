"""What listing each session file showed when it was last read, kept in ``sessions.index`` beside them, so that
the picker and /sessions open at once with thousands of sessions.

The index is a cache, never the truth: an entry counts only while its file's size and change time (to the
nanosecond) are what they were when it was read; anything else is read again. The file is written whole and
atomically, behind a checksum line (:func:`~kimi_repl.safefiles.sealed`), so one cut at any byte, changed at
any byte, written by two copies of kimi-repl at once or by a newer one, is simply not used: the listing reads
the sessions themselves and writes a new index. Every entry is checked field by field and bounded in size.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any, NamedTuple

from kimi_repl.errors import UserError
from kimi_repl.identity import TITLE_CHARS, Origin
from kimi_repl.safefiles import read_own, sealed, unsealed, write_file
from kimi_repl.sanitize import json_dumps
from kimi_repl.sessions.format import SUFFIX, origin_of

NAME = "sessions.index"
MAGIC = b"kimi-repl sessions-index 1 "
MAX_BYTES = 64 * 1024 * 1024
MAX_ENTRIES = 100_000
SYSTEM_CHARS = 500
"""How much of a system prompt the index keeps for the picker's filter."""
MODEL_CHARS = 200


class Listed(NamedTuple):
    """What a listing shows of one session file (None in the index: the file holds nothing to list)."""

    id: str
    title: str
    turns: int
    model: str
    system: str
    origin: Origin | None


class Stamp(NamedTuple):
    """A file's size and change time: an entry counts only while they are the same."""

    size: int
    mtime_ns: int


class _Unwritable(UserError):
    pass


def _origin(data: Any) -> Origin | None:
    origin = origin_of(*data) if isinstance(data, list) and len(data) == 3 else None
    if origin is None:
        raise ValueError("origin")
    return origin


def _text(value: Any, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError("text")
    return value


def _entry(data: Any) -> tuple[Stamp, Listed | None]:
    """An entry as the file holds it: ``[size, mtime_ns, listed or null]``.

    Raises:
        ValueError: it is not one.
    """
    if not isinstance(data, list) or len(data) != 3:
        raise ValueError("entry")
    size, mtime_ns, listed = data
    for number in (size, mtime_ns):
        if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number < 2**63:
            raise ValueError("stamp")
    if listed is None:
        return Stamp(size, mtime_ns), None
    if not isinstance(listed, list) or len(listed) != 6:
        raise ValueError("listed")
    session_id, title, turns, model, system, origin = listed
    if not isinstance(turns, int) or isinstance(turns, bool) or not 0 <= turns <= 10**9:
        raise ValueError("turns")
    return Stamp(size, mtime_ns), Listed(
        _text(session_id, 200),
        _text(title, TITLE_CHARS + 1),
        turns,
        _text(model, MODEL_CHARS),
        _text(system, SYSTEM_CHARS),
        None if origin is None else _origin(origin),
    )


def _encoded(stamp: Stamp, listed: Listed | None) -> list[Any]:
    if listed is None:
        return [stamp.size, stamp.mtime_ns, None]
    origin = list(listed.origin) if listed.origin is not None else None
    return [stamp.size, stamp.mtime_ns, [*listed[:5], origin]]


def listed(session_id: str, title: str, turns: int, model: str, system: str, origin: Origin | None) -> Listed:
    """A :class:`Listed`, cut to what the index keeps."""
    return Listed(session_id[:200], title[: TITLE_CHARS + 1], turns, model[:MODEL_CHARS], system[:SYSTEM_CHARS], origin)


class SessionIndex:
    """The index of one sessions folder: :meth:`get` what a file showed, :meth:`put` what it shows now,
    :meth:`save` once the listing is done."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / NAME
        self._entries: dict[str, tuple[Stamp, Listed | None]] = {}
        self._changed = False
        self._load()

    def _load(self) -> None:
        raw = read_own(self.path, limit=MAX_BYTES)
        body = unsealed(MAGIC, raw) if raw is not None else None
        if body is None:
            return
        try:
            entries = json.loads(body)
        except (ValueError, RecursionError):
            return
        if not isinstance(entries, dict):
            return
        for name, data in list(entries.items())[:MAX_ENTRIES]:
            if isinstance(name, str) and name.endswith(SUFFIX) and "/" not in name and "\\" not in name:
                with contextlib.suppress(ValueError):
                    self._entries[name] = _entry(data)

    def get(self, name: str, stamp: Stamp) -> tuple[bool, Listed | None]:
        """Whether the index knows file ``name`` as it is now (``stamp``), and what it showed then."""
        found = self._entries.get(name)
        if found is None or found[0] != stamp:
            return False, None
        return True, found[1]

    def put(self, name: str, stamp: Stamp, shown: Listed | None) -> None:
        """Remember what file ``name`` (as ``stamp`` describes it) shows."""
        if self._entries.get(name) != (stamp, shown) and len(self._entries) < MAX_ENTRIES:
            self._entries[name] = (stamp, shown)
            self._changed = True

    def keep_only(self, names: set[str]) -> None:
        """Forget the files not in ``names`` (all the folder holds now)."""
        gone = [name for name in self._entries if name not in names]
        for name in gone:
            del self._entries[name]
        self._changed = self._changed or bool(gone)

    def _sweep(self) -> None:
        """Remove what a write of the index cut short by a crash left (its temporary files, a minute old)."""
        for left in self.path.parent.glob(f".{NAME}.*.tmp"):
            with contextlib.suppress(OSError):
                if time.time() - left.lstat().st_mtime > 60:
                    left.unlink()

    def save(self) -> None:
        """Write the index if it changed (best effort: a folder that cannot be written is listed all the same)."""
        if not self._changed:
            return
        self._sweep()
        body = json_dumps({name: _encoded(*entry) for name, entry in self._entries.items()})
        with contextlib.suppress(_Unwritable, OSError):
            write_file(self.path, sealed(MAGIC, body.encode("utf-8", "replace")), overwrite=True, error=_Unwritable)
            self._changed = False
