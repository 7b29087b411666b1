"""The input history file: every message typed, for ↑ and the grey suggestions, kept private and bounded.

prompt_toolkit's ``FileHistory`` reads the whole file at start-up and stores whatever is accepted. Here an
entry longer than :data:`MAX_ENTRY_CHARS` is not stored (a pasted log belongs in the session file, not in
every later start-up), only the last :data:`MAX_READ_BYTES` of the file are read, and a file grown past twice
that is cut back to its newest entries. A line holding the API key is never stored. The file is written
without following a symbolic link, readable only by its owner.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterable
from pathlib import Path

from prompt_toolkit.history import FileHistory

from kimi_repl.errors import UserError
from kimi_repl.redaction import Secret
from kimi_repl.safefiles import NOFOLLOW, write_all, write_file

MAX_ENTRY_CHARS = 64 * 1024
MAX_READ_BYTES = 4 * 1024 * 1024


class PrivateHistory(FileHistory):
    """A history file that holds no key, no huge entry, and is read in bounded time."""

    def __init__(self, path: Path, secret: str | None) -> None:
        super().__init__(str(path))
        self.path = path
        self._secret = Secret(secret)

    def load_history_strings(self) -> Iterable[str]:
        data = self._tail()
        strings: list[str] = []
        lines: list[str] = []
        for raw in data.split(b"\n"):
            if raw.startswith(b"+"):
                lines.append(raw[1:].decode("utf-8", errors="replace"))
            elif lines:
                strings.append("\n".join(lines))
                lines = []
        if lines:
            strings.append("\n".join(lines))
        return reversed([text for text in strings if len(text) <= MAX_ENTRY_CHARS])

    def _tail(self) -> bytes:
        """The file's last :data:`MAX_READ_BYTES`, from an entry's start; a file twice that is cut back to them."""
        try:
            fd = os.open(self.path, os.O_RDONLY | NOFOLLOW)
        except OSError:
            return b""
        try:
            size = os.fstat(fd).st_size
            start = max(0, size - MAX_READ_BYTES)
            os.lseek(fd, start, os.SEEK_SET)
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            data = b"".join(chunks)
        except OSError:
            return b""
        finally:
            os.close(fd)
        if start:
            entry = data.find(b"\n#")
            data = data[entry + 1 :] if entry >= 0 else b""
            if size > 2 * MAX_READ_BYTES:
                with contextlib.suppress(Exception):
                    write_file(self.path, data, overwrite=True, error=_NotWritten)
        return data

    def store_string(self, string: str) -> None:
        if len(string) > MAX_ENTRY_CHARS or self._secret.found_in(string):
            return
        text = f"\n# {datetime.datetime.now()}\n" + "".join(f"+{line}\n" for line in string.split("\n"))
        with contextlib.suppress(OSError):
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | NOFOLLOW, 0o600)
            try:
                write_all(fd, text.encode("utf-8", errors="replace"))
            finally:
                os.close(fd)


class _NotWritten(UserError):
    """Cutting the file back failed: it stays as it was."""
