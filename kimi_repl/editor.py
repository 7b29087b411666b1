"""Writing a message in the user's own editor: ``$VISUAL``, else ``$EDITOR``, else the first of a few usual ones."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from kimi_repl.errors import UserError
from kimi_repl.safefiles import read_regular_file

FALLBACK_EDITORS = ("notepad",) if sys.platform == "win32" else ("editor", "nano", "vi")
"""Tried in order when neither variable is set (Debian's ``editor`` is the system's choice)."""

MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class EditorError(UserError):
    """The editor could not be used; the message stays as it was."""


def editor_command() -> list[str]:
    """The editor to run, as a command line.

    Raises:
        EditorError: none is set and none of the usual ones is installed, or the variable cannot be parsed.
    """
    for variable in ("VISUAL", "EDITOR"):
        value = os.environ.get(variable, "").strip()
        if value:
            try:
                command = shlex.split(value)
            except ValueError:
                raise EditorError(f"${variable} is not a command line: {value!r}") from None
            if command:
                return command
    for name in FALLBACK_EDITORS:
        found = shutil.which(name)
        if found:
            return [found]
    raise EditorError("no editor found: set $EDITOR (for example EDITOR=nano, or EDITOR='code --wait')")


def edit(text: str) -> str:
    """Open ``text`` in the editor (in a private temporary file) and return what was saved.

    Raises:
        EditorError: the editor could not start, or did not end well (then nothing changes).
    """
    command = editor_command()
    fd, name = tempfile.mkstemp(prefix="kimi-repl-", suffix=".md")  # readable only by the user
    path = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        try:
            status = subprocess.call([*command, name])
        except OSError as error:
            raise EditorError(f"cannot start the editor {command[0]!r}: {error.strerror or error}") from None
        if status != 0:
            raise EditorError(f"the editor {command[0]!r} ended with status {status}: the message is unchanged")
        data = read_regular_file(path, max_bytes=MAX_MESSAGE_BYTES, kind="a message", error=EditorError)
        return data.decode("utf-8", errors="replace").removesuffix("\n")
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
