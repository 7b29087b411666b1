"""The text Moonshot extracted from documents, kept in the user's cache folder: the same file is uploaded once.

An entry is found by the SHA-256 of the file's bytes, whatever its name or folder. Moonshot's two platforms share
a key (they run the same extraction: switching platform uploads nothing again); any other server's key also
covers its URL (:func:`extraction_source`), so that a server a ``.env`` points at cannot plant the text a later
Moonshot session trusts. ``/file`` says when the text came from here.

Each entry is one file, ``<sha256>.extract``, written atomically (a temporary file, synced, renamed)::

    kimi-repl extract 1 <SHA-256 of everything after this line>\\n
    {"key": ..., "name": ..., "file_id": ..., "extracted_at": ...}\\n
    <the text, UTF-8>

so an entry cut short (a crash at any byte), damaged, or left by another copy of kimi-repl half-way never loads:
it is a miss, removed, and the file is extracted again. The folder is used only if no one but the user can
change it (as for sessions), entries only if they are the user's own regular files, 0600 in a 0700 folder.
The folder is bounded (:data:`MAX_TOTAL_BYTES`): the entries used least recently go first. Nothing is printed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import time
from pathlib import Path
from typing import NamedTuple

from kimi_repl.errors import UserError
from kimi_repl.safefiles import read_own, sealed, trusted_folder, unsealed, write_file

MAGIC = b"kimi-repl extract 1 "
SUFFIX = ".extract"
MAX_TOTAL_BYTES = 200 * 1024 * 1024
"""The most the folder holds; past it, the entries used least recently are removed."""
MAX_ENTRY_BYTES = 64 * 1024 * 1024
"""The most text one entry keeps (the client reads no more of an extraction)."""
MAX_HEADER_BYTES = 64 * 1024
STALE_SECONDS = 3600
"""A temporary file older than this was left by a crash, and is removed."""
_KEY = re.compile(r"[0-9a-f]{64}")


class CacheError(UserError):
    """The cache cannot be read or written (one line saying why)."""


class Extract(NamedTuple):
    """A document's extracted text, as cached.

    Attributes:
        key: the SHA-256 of the file's bytes (:func:`file_key`).
        name: the file's name when it was extracted.
        file_id: the id Moonshot gave the upload (deleted since).
        extracted_at: when, in seconds since the epoch.
    """

    key: str
    name: str
    text: str
    file_id: str | None
    extracted_at: float


def file_key(data: bytes, source: str = "") -> str:
    """The cache key of a file: the SHA-256 of its bytes, in hex; of ``source`` and its bytes for a server that
    is not Moonshot's (:func:`extraction_source`), so that no other server's text is taken for Moonshot's."""
    return hashlib.sha256(source.encode() + b"\n" + data if source else data).hexdigest()


def extraction_source(base_url: str) -> str:
    """Whose extraction a cached text is: "" for Moonshot's (either platform: the same text), else the server's
    URL without its credentials."""
    from kimi_repl.config import is_moonshot
    from kimi_repl.values import public_url

    return "" if is_moonshot(base_url) else public_url(base_url)


def encode(extract: Extract) -> bytes:
    """An entry's bytes: the checksum line, the header, the text."""
    header = {"key": extract.key, "name": extract.name, "file_id": extract.file_id, "at": extract.extracted_at}
    return sealed(MAGIC, json.dumps(header).encode() + b"\n" + extract.text.encode("utf-8", "replace"))


def decode(raw: bytes, key: str) -> Extract | None:
    """The extract ``raw`` holds for ``key``, or None if it is cut short, damaged or another key's."""
    rest = unsealed(MAGIC, raw)
    if rest is None:
        return None
    header_bytes, newline, body = rest.partition(b"\n")
    if not newline or len(header_bytes) > MAX_HEADER_BYTES:
        return None
    try:
        header = json.loads(header_bytes)
        text = body.decode("utf-8")
    except (ValueError, RecursionError):
        return None
    if not isinstance(header, dict) or header.get("key") != key:
        return None
    name, file_id, at = header.get("name"), header.get("file_id"), header.get("at")
    if not isinstance(name, str) or not (file_id is None or isinstance(file_id, str)):
        return None
    if not isinstance(at, (int, float)) or isinstance(at, bool) or not 0 <= at < 1e11:
        return None
    return Extract(key=key, name=name, text=text, file_id=file_id, extracted_at=float(at))


class ExtractCache:
    """Extracted texts by file hash, in one private folder, bounded in total and per entry.

    Raises:
        NotPrivate: the folder is not the user's alone.
    """

    def __init__(self, folder: Path, *, max_total: int = MAX_TOTAL_BYTES, max_entry: int = MAX_ENTRY_BYTES) -> None:
        self.folder = trusted_folder(folder, what="the document cache", so="it is not used")
        self.max_total = max_total
        self.max_entry = max_entry

    @classmethod
    def default(cls) -> ExtractCache:
        """The cache in the user's cache folder (created private).

        Raises:
            NotPrivate: the folder is not the user's alone.
            OSError: it cannot be created.
        """
        from kimi_repl.config import extracts_dir

        return cls(extracts_dir())

    def path(self, key: str) -> Path:
        """Where ``key``'s entry lives.

        Raises:
            ValueError: ``key`` is not a SHA-256 in hex.
        """
        if not _KEY.fullmatch(key):
            raise ValueError(f"not a cache key: {key[:80]!r}")
        return self.folder / f"{key}{SUFFIX}"

    def get(self, key: str) -> Extract | None:
        """The cached extract for ``key`` (marked as just used), or None: missing, not the user's own regular
        file, too big, cut short or damaged (such an entry is removed)."""
        path = self.path(key)
        if not os.path.lexists(path):
            return None
        raw = read_own(path, limit=self.max_entry + MAX_HEADER_BYTES + 256)
        if raw is None:
            return None
        extract = decode(raw, key)
        if extract is None:
            with contextlib.suppress(OSError):
                os.unlink(path)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # least recently used goes first
        return extract

    def put(self, extract: Extract) -> bool:
        """Keep ``extract`` (replacing an entry for its key), then trim the folder to its bound; False if it is
        bigger than one entry may be.

        Raises:
            CacheError: it cannot be written.
        """
        data = encode(extract)
        if len(data) > self.max_entry + MAX_HEADER_BYTES:
            return False
        path = self.path(extract.key)
        write_file(path, data, overwrite=True, error=CacheError, mode=0o600)
        self.trim(keep=path)
        return True

    def trim(self, *, keep: Path | None = None) -> None:
        """Remove the entries used least recently until the folder holds at most :attr:`max_total` bytes, and
        temporary files a crash left behind."""
        entries: list[tuple[float, int, Path]] = []
        total = 0
        now = time.time()
        try:
            listing = list(os.scandir(self.folder))
        except OSError:
            return
        for item in listing:
            try:
                info = item.stat(follow_symlinks=False)
            except OSError:
                continue
            path = Path(item.path)
            if item.name.startswith(".") and item.name.endswith(".tmp"):
                if now - info.st_mtime > STALE_SECONDS:
                    with contextlib.suppress(OSError):
                        os.unlink(path)
                continue
            if item.name.endswith(SUFFIX) and stat.S_ISREG(info.st_mode):
                entries.append((info.st_mtime, info.st_size, path))
                total += info.st_size
        for _, size, path in sorted(entries):
            if total <= self.max_total:
                break
            if path == keep:
                continue
            with contextlib.suppress(OSError):  # another kimi-repl may have removed it, or have it open
                os.unlink(path)
                total -= size

    def size(self) -> int:
        """The bytes the entries take."""
        with contextlib.suppress(OSError):
            items = [item for item in os.scandir(self.folder) if item.name.endswith(SUFFIX)]
            return sum(item.stat(follow_symlinks=False).st_size for item in items)
        return 0
