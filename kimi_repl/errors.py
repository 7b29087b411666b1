"""The one kind of error a person is shown: a line that says what went wrong and what to do."""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """Something the user can act on; ``str(error)`` is one line fit to show, without the API key.

    The REPL shows any of these as one line and carries on; each part of the program raises its own
    subclass (bad settings, a failed request, an unreadable file, a misused command).
    """


def read_user_file(path: Path, *, max_bytes: int, kind: str, error: type[UserError]) -> bytes:
    """The bytes of a file the user named.

    Args:
        kind: what the file should be, for messages ("a transcript", "a document").
        error: the exception to raise.

    Raises:
        error: the file is missing, a folder, unreadable, or bigger than ``max_bytes``.
    """
    try:
        if path.is_dir():
            raise error(f"{path} is a folder, not {kind}")
        size = path.stat().st_size
        if size > max_bytes:
            limit = max_bytes // 1_048_576
            raise error(f"{path} is {size / 1_048_576:.0f} MB, too big for {kind} (at most {limit} MB)")
        return path.read_bytes()
    except FileNotFoundError:
        raise error(f"{path} does not exist") from None
    except PermissionError:
        raise error(f"{path} cannot be read (permission denied)") from None
    except OSError as problem:
        raise error(f"{path} cannot be read: {problem.strerror or problem}") from None
