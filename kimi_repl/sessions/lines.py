"""A file read as lines of bounded length, one chunk at a time: any size of file, at most one line in memory.

:data:`MAX_LINE_BYTES` is read each time a function runs (tests lower it to write a line over the limit).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from kimi_repl.safefiles import CHUNK_BYTES

MAX_LINE_BYTES = 1024 * 1024 * 1024
"""The longest line read: a record longer than that is damage (every file that loaded before loads)."""


def limit_text() -> str:
    """:data:`~kimi_repl.sessions.lines.MAX_LINE_BYTES` for messages (``1 GB``, ``64 MB``)."""
    count = MAX_LINE_BYTES
    return f"{count >> 30} GB" if count >= 1 << 30 else f"{count >> 20} MB"


class Line(NamedTuple):
    """One line of a file."""

    text: bytes | None
    """The line without its newline; None when it is longer than the limit (it is not kept)."""
    end: int
    """The offset just after it (and its newline)."""
    newline: bool
    """Whether a newline ends it (the last line of a torn write has none)."""


def split_lines(chunks: Iterable[bytes], limit: int | None = None) -> Iterator[Line]:
    """The lines of the bytes that ``chunks`` make up, keeping at most ``limit`` bytes of a line in memory
    (:data:`~kimi_repl.sessions.lines.MAX_LINE_BYTES` unless given)."""
    limit = MAX_LINE_BYTES if limit is None else limit
    pieces: list[bytes] = []
    size = offset = 0
    for chunk in chunks:
        start = 0
        while True:
            newline = chunk.find(b"\n", start)
            stop = len(chunk) if newline < 0 else newline
            size += stop - start
            if size <= limit:
                pieces.append(chunk[start:stop])
            elif pieces:
                pieces = []
            if newline < 0:
                break
            offset += size + 1
            yield Line(b"".join(pieces) if size <= limit else None, offset, True)
            pieces, size, start = [], 0, newline + 1
    if size:
        yield Line(b"".join(pieces) if size <= limit else None, offset + size, False)


def chunks_of(fd: int) -> Iterator[bytes]:
    """What is left of the open file ``fd``, a chunk at a time (Ctrl-C stops it between two)."""
    while chunk := os.read(fd, CHUNK_BYTES):
        yield chunk


def line_blocks(chunks: Iterable[bytes], limit: int | None = None) -> Iterator[bytes]:
    """The bytes that ``chunks`` make up, as blocks of whole lines (a chunk's worth, give or take a line), for
    scans that need no line numbers; a line longer than ``limit`` (which is no shorter than a chunk) is left
    out, as :func:`split_lines` leaves it."""
    limit = MAX_LINE_BYTES if limit is None else limit
    pieces: list[bytes] = []  # the line the last chunk ended in
    size = 0
    for chunk in chunks:
        last = chunk.rfind(b"\n")
        if last < 0:
            size += len(chunk)
            pieces = [*pieces, chunk] if size <= limit else []
            continue
        first = chunk.find(b"\n")
        if size + first <= limit:
            yield b"".join([*pieces, chunk[: last + 1]])
        elif first < last:
            yield chunk[first + 1 : last + 1]
        rest = chunk[last + 1 :]
        pieces, size = [rest], len(rest)
    if 0 < size <= limit:
        yield b"".join(pieces)
