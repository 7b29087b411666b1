"""What a session is called and where it came from: its id, its title (given, or derived from the first
message), and the session it branched from."""

from __future__ import annotations

import os
import re
import time
from typing import Literal, NamedTuple

_FIRST_LINE = re.compile("[^\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]*")
"""A line, up to where :meth:`str.splitlines` would end it."""


_BLANK = re.compile(r"\s*")
_FENCE = re.compile(r"(`{3,}|~{3,})[^`]*")
_MARKUP = re.compile(r"(?:#{1,6}\s+|>\s*|[-*+]\s+)+")
"""What markdown puts before a line's words: a heading's hashes, a quote's ``>``, a list item's mark."""


def title_of(text: str) -> str:
    """The first line of ``text`` with words in it, without its markdown marks (a code fence is passed over),
    cut to 60 characters (and "…"), for listings."""
    at = 0
    for _ in range(8):
        at = _BLANK.match(text, at).end()  # type: ignore[union-attr]  # blank lines are whitespace, line ends too
        first = _FIRST_LINE.match(text, at)
        line = first.group().strip() if first else ""
        if not (line and _FENCE.fullmatch(line)):
            break
        at += len(first.group()) if first else 0
    return shortened(_MARKUP.sub("", line, count=1) or line, 60)


_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def shortened(line: str, limit: int) -> str:
    """``line`` cut to ``limit`` characters (and "…"), never inside a word of Latin letters, digits, ``_`` and
    ``-``: such a word is left out whole, so a title never keeps part of a key or a token, which no redaction
    could recognise once cut."""
    if len(line) <= limit:
        return line
    end = limit
    if line[limit] in _WORD:
        while end > 0 and line[end - 1] in _WORD:
            end -= 1
    return line[:end].rstrip() + "…"


TITLE_CHARS = 80
"""The most a title keeps (a title given or asked of the model; a derived one is shorter)."""

Titled = Literal["user", "model"]
"""Who gave a session its title (a title nobody gave is derived from the first message)."""


class Origin(NamedTuple):
    """Where a session branched from: the session ``id``, of whose turns it took the first ``turns``; ``how``:
    "rewind" (it went back to before turn ``turns + 1`` to change it) or "fork" (a copy, to go on apart)."""

    id: str
    turns: int
    how: Literal["rewind", "fork"]


def clean_title(text: str) -> str:
    """``text`` as a title: one line, spaces squeezed, at most :data:`TITLE_CHARS` characters."""
    return shortened(" ".join(text.split()), TITLE_CHARS)


def new_session_id(now: float | None = None) -> str:
    """A sortable, typeable id such as ``20261125-101112-a3f9``."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return f"{stamp}-{os.urandom(2).hex()}"
