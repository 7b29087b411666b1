"""Files a person names and files kimi-repl keeps, handled so that none can hang, flood or trick it.

Reading: only regular files (a FIFO would block, ``/dev/zero`` never ends, a folder is not a document),
opened without blocking, read in chunks with the size limit checked as the bytes arrive (a file can grow while
it is read), so Ctrl-C stops it between chunks.

Writing: through a temporary file in the same folder, synced, then renamed into place, so a crash leaves the
old file or the new one, never half. Only a regular file is ever replaced (not a symbolic link, a FIFO, a
device or a folder); a replaced file keeps its permissions; a new file is readable only by its owner.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from kimi_repl.errors import UserError

CHUNK_BYTES = 1 << 20


def kind_of(mode: int) -> str:
    """What a file that is not a regular file is, for messages."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a regular file"


class NotYours(UserError):
    """A file that settles where the key goes, or what is sent, is not the user's own (``str`` says why)."""


def ownership_problem(status: os.stat_result, path: Path) -> str | None:
    """Why a file or folder with ``status`` must not be trusted, or None: it belongs to someone else, or others
    can write it (ssh's ``StrictModes``). Not checked where there are no owners (Windows)."""
    getuid = getattr(os, "getuid", None)
    if getuid is None:
        return None
    if status.st_uid != getuid():
        return f"it belongs to another user (uid {status.st_uid})"
    if status.st_mode & 0o022 and not (stat.S_ISDIR(status.st_mode) and status.st_mode & stat.S_ISVTX):
        return f"others can write it (chmod go-w {path} makes it yours alone)"
    return None


def read_regular_file(path: Path, *, max_bytes: int, kind: str, error: type[UserError], own: bool = False) -> bytes:
    """The bytes of ``path``, a regular file of at most ``max_bytes``.

    Args:
        kind: what the file should be, for messages ("a transcript", "a document").
        error: the exception to raise.
        own: the file must be the user's own and writable by nobody else (:class:`NotYours` otherwise).

    Raises:
        error: missing, unreadable, not a regular file, or too big (one line saying which).
        NotYours: ``own`` and it is not.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise error(f"{path} does not exist") from None
    except PermissionError:
        raise error(f"{path} cannot be read (permission denied)") from None
    except OSError as problem:
        raise error(f"{path} cannot be read: {problem.strerror or problem}") from None
    try:
        status = os.fstat(fd)
        mode = status.st_mode
        if not stat.S_ISREG(mode):
            raise error(f"{path} is {kind_of(mode)}, not {kind}")
        refusal = ownership_problem(status, path) if own else None
        if refusal:
            raise NotYours(refusal)
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, CHUNK_BYTES):
            total += len(chunk)
            if total > max_bytes:
                raise error(f"{path} is bigger than {_size(max_bytes)}, too big for {kind}")
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as problem:
        raise error(f"{path} cannot be read: {problem.strerror or problem}") from None
    finally:
        os.close(fd)


def write_file(path: Path, data: bytes, *, overwrite: bool, error: type[UserError]) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file, synced, then renamed).

    Args:
        overwrite: replace ``path`` if it is a regular file; otherwise refuse if anything is there.

    Raises:
        error: ``path`` exists (and ``overwrite`` is false), is not a regular file, or cannot be written.
    """
    try:
        existing = os.lstat(path)
    except FileNotFoundError:
        existing = None
    except OSError as problem:
        raise error(f"cannot write {path}: {problem.strerror or problem}") from None
    if existing is not None:
        if not overwrite:
            raise error(f"{path} already exists")
        if not stat.S_ISREG(existing.st_mode):
            raise error(f"{path} is {kind_of(existing.st_mode)}: only a regular file is ever replaced")
    import tempfile  # not at start-up: it pulls in shutil, random and the compressors

    mode = stat.S_IMODE(existing.st_mode) if existing is not None else 0o600
    folder = path.parent
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as problem:
        raise error(f"cannot write in {folder}: {problem.strerror or problem}") from None
    try:
        try:
            write_all(fd, data)
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)  # fails if path exists: no race between the check and the write
            except FileExistsError:
                raise error(f"{path} already exists") from None
        _sync_folder(folder)
    except OSError as problem:
        raise error(f"cannot write {path}: {problem.strerror or problem}") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data``; a write that makes no progress is a full disk.

    Raises:
        OSError: the write failed (ENOSPC when the disk is full), possibly after writing part of it.
    """
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(28, os.strerror(28))  # ENOSPC
        view = view[written:]


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` survive a power cut (best effort: not every file system allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _size(count: int) -> str:
    return f"{count / 1_048_576:.0f} MB" if count >= 1_048_576 else f"{count / 1024:.0f} KB"
