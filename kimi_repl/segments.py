"""Rendered lines: what rich draws, line by line, as lists of segments without rich's trailing padding."""

from __future__ import annotations

from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment


def lines_of(console: Console, renderable: Any, options: ConsoleOptions) -> list[list[Segment]]:
    """``renderable`` drawn at ``options``, each line without its padding."""
    return [without_padding(line) for line in console.render_lines(renderable, options, pad=False)]


def is_blank(line: list[Segment]) -> bool:
    """A line with only spaces and no background colour (rich's spacing, not a code block's padding)."""
    return all(not seg.text.strip() and not (seg.style and seg.style.bgcolor) for seg in line)


def note_lines(console: Console, note: str, options: ConsoleOptions) -> list[list[Segment]]:
    """A note about what is shown, dim."""
    from rich.text import Text

    return lines_of(console, Text(note, style="dim"), options)


def without_padding(line: list[Segment]) -> list[Segment]:
    """``line`` without the trailing spaces rich pads it with (they re-wrap badly when the window narrows)."""
    end = len(line)
    while end and is_blank(line[end - 1 : end]):
        end -= 1
    trimmed = line[:end]
    if trimmed and trimmed[-1].text.endswith(" ") and not (trimmed[-1].style and trimmed[-1].style.bgcolor):
        last = trimmed[-1]
        trimmed[-1] = Segment(last.text.rstrip(" "), last.style, last.control)
    return trimmed


def yield_lines(lines: list[list[Segment]], *, end: bool, gap: bool = False) -> RenderResult:
    """The segments of ``lines`` with line breaks between them (and after the last if ``end``; a blank line
    before them if ``gap``)."""
    new_line = Segment.line()
    if gap and lines:
        yield new_line
    for index, line in enumerate(lines):
        if index:
            yield new_line
        yield from line
    if end and lines:
        yield new_line
