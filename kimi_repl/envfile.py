"""Finding and trusting ``.env`` files, and the rule every settings file is read by.

A ``.env`` is looked for from the working directory upwards, stopping at the user's home folder and at a
repository's root; it is read only if it is the user's own and nobody else can write it, and its values are
taken literally. :func:`read_private_text` is the same rule for ``config.toml``.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import NamedTuple

from kimi_repl.errors import ConfigError
from kimi_repl.safefiles import NotPrivate, changeable_by_others, read_regular_file

MAX_DOTENV_BYTES = 1_048_576


class DotEnv(NamedTuple):
    """The ``.env`` file read (None: none), its values, and why a file was passed over (if one was)."""

    path: Path | None
    values: dict[str, str]
    notes: tuple[str, ...] = ()


def find_dotenv(start: Path | None = None, *, home: Path | None = None) -> DotEnv:
    """The nearest ``.env`` file, searching from ``start`` (the working directory) upwards, and its values.

    The search stops at the user's home folder and at the root of a repository (a folder with ``.git``):
    a ``.env`` further up belongs to somebody else's project, or to nobody. The nearest file is read only if
    it is the user's own and nobody else can write it (ssh's rule for its files): otherwise it is passed
    over, with a note saying why, and the search stops there. Values are taken literally (``${VAR}`` is not
    expanded: a ``.env`` must not be able to copy other secrets from the environment into a URL). A folder
    named ``.env`` (a virtual environment) is passed over, as python-dotenv does.

    Raises:
        ConfigError: the nearest ``.env`` is not a regular file (a FIFO would hang start-up), cannot be read,
            is too big or is not UTF-8 text.
    """
    try:
        here = (start if start is not None else Path.cwd()).absolute()
    except OSError:  # the working folder was deleted under the shell (a build clean, a checkout)
        return DotEnv(None, {})
    home = home if home is not None else Path.home()
    for folder in (here, *here.parents):
        candidate = folder / ".env"
        try:
            found = os.path.lexists(candidate) and not candidate.is_dir()
        except OSError:
            found = False
        if found:
            return _read_dotenv_file(candidate)
        if folder == home or _is_repository_root(folder):
            break
    return DotEnv(None, {})


def _is_repository_root(folder: Path) -> bool:
    try:
        return os.path.lexists(folder / ".git")
    except OSError:
        return False


def _read_dotenv_file(path: Path) -> DotEnv:
    with contextlib.suppress(OSError):  # first who owns it: someone else's FIFO or unreadable file is theirs
        why = changeable_by_others(os.stat(path))
        if why:
            return DotEnv(None, {}, (f"⚠ {path} {why}: it is not read{fix_hint(why, path)}.",))
    try:
        data = read_regular_file(path, max_bytes=MAX_DOTENV_BYTES, kind="a .env file", error=ConfigError, private=True)
    except NotPrivate as refusal:
        return DotEnv(None, {}, (f"⚠ {refusal}: it is not read{_fix(refusal, path)}.",))
    text = decode_text(path, data)
    import io

    from dotenv import dotenv_values  # only when there is a file: it is not free to import

    values = dotenv_values(stream=io.StringIO(text), interpolate=False)
    return DotEnv(path, {k: v for k, v in values.items() if v is not None})


def read_dotenv(start: Path | None = None, *, home: Path | None = None) -> dict[str, str]:
    """The values of :func:`find_dotenv` (none when it passed a file over)."""
    return find_dotenv(start, home=home).values


def read_private_text(path: Path, kind: str, max_bytes: int) -> str:
    """The text of a settings file, read only if it is private (see :func:`~kimi_repl.safefiles.read_regular_file`).

    Raises:
        ConfigError: it is not, or it cannot be read, is too big or is not UTF-8 text.
    """
    try:
        data = read_regular_file(path, max_bytes=max_bytes, kind=kind, error=ConfigError, private=True)
    except NotPrivate as refusal:
        raise ConfigError(f"{refusal}: it is not used{_fix(refusal, path)}") from None
    return decode_text(path, data)


def _fix(refusal: NotPrivate, path: Path) -> str:
    """How to make a refused file usable, when it is the user's own."""
    return fix_hint(str(refusal), path)


def fix_hint(why: str, path: Path) -> str:
    """How to make a file refused for ``why`` usable, when it is the user's own ("" otherwise)."""
    return f" (chmod go-w {path} makes it yours alone)" if "can be changed" in why else ""


def decode_text(path: Path, data: bytes) -> str:
    """``data`` read from ``path`` as UTF-8 (a byte-order mark dropped)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path} is not UTF-8 text (byte {error.start + 1} cannot be read)") from None
