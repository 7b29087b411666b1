"""Files a person names and files kimi-repl keeps, handled so that none can hang, flood or trick it.

Reading: only regular files (a FIFO would block, ``/dev/zero`` never ends, a folder is not a document),
opened without blocking, read in chunks with the size limit checked as the bytes arrive (a file can grow while
it is read), so Ctrl-C stops it between chunks.

Writing: through a temporary file in the same folder, synced, then renamed into place, so a crash leaves the
old file or the new one, never half. Only a regular file is ever replaced (not a symbolic link, a FIFO, a
device or a folder); a replaced file keeps its permissions; a new file is readable only by its owner.

Trust: a file or folder that someone other than the user (or root) could change is refused where it matters
(sessions), as ssh's StrictModes refuses a ``~/.ssh`` others can write to. Where there are no POSIX owners and
modes (Windows), there is nothing to check.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from kimi_repl.errors import UserError

CHUNK_BYTES = 1 << 20
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
"""Open the file itself, never what a symbolic link points to (0 where the system has no such flag)."""
CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | CLOEXEC


class NotPrivate(PermissionError):
    """A file or folder that someone other than the user could change, refused (the message says how to fix it)."""


def changeable_by_others(info: os.stat_result) -> str | None:
    """Why someone other than the user could change the file or folder ``info`` describes, or None.

    Owned by the user or by root, and writable by neither its group nor others: None. Without POSIX owners
    (Windows), always None.
    """
    getuid = getattr(os, "getuid", None)
    if getuid is None:
        return None
    if info.st_uid not in (getuid(), 0):
        return f"belongs to user {info.st_uid}, not to you"
    loose = info.st_mode & 0o022
    if loose:
        who = {0o020: "its group", 0o002: "others"}.get(loose, "its group and others")
        return f"can be changed by {who} (mode {stat.S_IMODE(info.st_mode):04o})"
    return None


def trusted_folder(folder: Path, *, what: str, so: str) -> Path:
    """``folder`` as it really is (symbolic links resolved), if no one but the user (or root) can change it; a
    missing folder is taken as it is (writing in it fails, and says so).

    Args:
        what: the folder, for the message (``the sessions folder``).
        so: what follows when it cannot be trusted (``sessions there cannot be trusted``).

    Raises:
        NotPrivate: someone else owns it or can write in it (the message says how to fix it).
    """
    import shlex

    real = Path(os.path.realpath(folder))
    try:
        info = os.stat(real)
    except OSError:
        return real
    why = changeable_by_others(info)
    if why is None:
        return real
    linked = real != Path(os.path.abspath(folder))
    shown = f"{folder} (a link to {real})" if linked else str(folder)
    if why.startswith("belongs"):
        fix = "point it at a folder of yours" if linked else "remove it or make it yours"
    else:
        fix = f"chmod 700 {shlex.quote(str(real))}"
    raise NotPrivate(f"{what} {shown} {why}, so {so}: {fix}")


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


def read_regular_file(path: Path, *, max_bytes: int, kind: str, error: type[UserError], private: bool = False) -> bytes:
    """The bytes of ``path``, a regular file of at most ``max_bytes``.

    Args:
        kind: what the file should be, for messages ("a transcript", "a document").
        error: the exception to raise.
        private: refuse a file someone other than the user could change (a ``.env``, the config file).

    Raises:
        error: missing, unreadable, not a regular file, or too big (one line saying which).
        NotPrivate: ``private``, and someone else could change it (``str``: the path and why).
    """
    fd, info = open_regular(path, kind=kind, error=error)
    why = changeable_by_others(info) if private else None
    if why:
        os.close(fd)
        raise NotPrivate(f"{path} {why}")
    try:
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, CHUNK_BYTES):
            total += len(chunk)
            if total > max_bytes:
                raise error(f"{path} is bigger than {byte_size(max_bytes)}, too big for {kind}")
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as problem:
        raise error(f"{path} cannot be read: {problem.strerror or problem}") from None
    finally:
        os.close(fd)


def open_regular(
    path: Path, *, kind: str, error: type[UserError], follow_symlinks: bool = True
) -> tuple[int, os.stat_result]:
    """``path`` opened for reading, and what ``fstat`` says of it: a regular file, opened without blocking.

    Args:
        kind: what the file should be, for messages.
        follow_symlinks: False refuses a symbolic link (where the system can tell).

    Raises:
        error: missing, unreadable, a symbolic link when refused, or not a regular file (one line saying which).
    """
    flags = _READ_FLAGS | (0 if follow_symlinks else NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise error(f"{path} does not exist") from None
    except PermissionError:
        raise error(f"{path} cannot be read (permission denied)") from None
    except OSError as problem:
        if not follow_symlinks and os.path.islink(path):  # ELOOP, or EMLINK on some systems
            raise error(f"{path} is a symbolic link, not {kind}") from None
        raise error(f"{path} cannot be read: {problem.strerror or problem}") from None
    try:
        info = os.fstat(fd)
    except OSError as problem:
        os.close(fd)
        raise error(f"{path} cannot be read: {problem.strerror or problem}") from None
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise error(f"{path} is {kind_of(info.st_mode)}, not {kind}")
    return fd, info


def read_own(path: Path, *, limit: int) -> bytes | None:
    """The bytes of a file kimi-repl keeps for itself (a cache entry, an index): None if it is missing, a
    symbolic link, not a regular file, changeable by someone else, or over ``limit`` bytes (a cache then
    starts afresh)."""

    class _Unusable(UserError):
        pass

    try:
        fd, info = open_regular(path, kind="a file kimi-repl keeps", error=_Unusable, follow_symlinks=False)
    except _Unusable:
        return None
    try:
        if changeable_by_others(info) or info.st_size > limit:
            return None
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, CHUNK_BYTES):
            total += len(chunk)
            if total > limit:  # it grew while it was read
                return None
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def sealed(magic: bytes, body: bytes) -> bytes:
    """``body`` behind a first line of ``magic`` and the SHA-256 of ``body``: see :func:`unsealed`."""
    import hashlib  # not at start-up

    return magic + hashlib.sha256(body).hexdigest().encode() + b"\n" + body


def unsealed(magic: bytes, raw: bytes) -> bytes | None:
    """The body :func:`sealed` put in ``raw``; None if ``raw`` is cut short, damaged, or not such a file: a file
    torn at any byte, or with any byte changed, never passes."""
    import hashlib

    first, newline, body = raw.partition(b"\n")
    if not newline or not first.startswith(magic) or first[len(magic) :] != hashlib.sha256(body).hexdigest().encode():
        return None
    return body


def write_file(
    path: Path,
    data: bytes | Iterable[bytes],
    *,
    overwrite: bool,
    error: type[UserError],
    mode: int | None = None,
) -> None:
    """Write ``data`` (bytes, or pieces of them) to ``path`` atomically (a temporary file, synced, then renamed).

    Args:
        overwrite: replace ``path`` if it is a regular file; otherwise refuse if anything is there.
        mode: the new file's permissions (by default a replaced file's own, or 0600).

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

    if mode is None:
        mode = stat.S_IMODE(existing.st_mode) if existing is not None else 0o600
    folder = path.parent
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as problem:
        raise error(f"cannot write in {folder}: {problem.strerror or problem}") from None
    try:
        try:
            for piece in [data] if isinstance(data, bytes) else data:
                write_all(fd, piece)
            if hasattr(os, "fchmod"):
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
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def byte_size(count: int) -> str:
    """``73 bytes``, ``12 KB``, ``2.0 MB``: a size for messages."""
    if count < 1024:
        return f"{count} byte{'s' if count != 1 else ''}"
    if count < 1_048_576:
        return f"{count / 1024:.0f} KB"
    return f"{count / 1_048_576:.1f}".removesuffix(".0") + " MB"
