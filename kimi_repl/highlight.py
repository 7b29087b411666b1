"""The pieces of a long code block drawn as the whole block would be, highlighted within a time limit
(:mod:`kimi_repl.lexing`)."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions
from rich.segment import Segment

from kimi_repl.blocks import FENCE_OPEN, CodePiece
from kimi_repl.lexing import PLAIN_LEXERS, SlowHighlight, highlight_limit, lexer_of
from kimi_repl.sanitize import marked
from kimi_repl.segments import lines_of

CODE_THEME = "monokai"


def fence_lexers(text: str) -> set[str]:
    """The languages the fences of ``text`` name."""
    return {lexer_of(found.group(2)) for found in map(FENCE_OPEN.match, text.split("\n")) if found}


def code_piece_lines(console: Console, piece: CodePiece, options: ConsoleOptions) -> list[list[Segment]]:
    """``piece`` rendered as the part of its code block it is: the lines rich draws for the whole block
    (highlighted after the piece's context, padded, on the block's background), with the block's top edge
    only on the first piece and its bottom edge only on the last."""
    opening = FENCE_OPEN.match(piece.opening)
    lexer = lexer_of(opening.group(2) if opening else "")
    try:
        with highlight_limit():
            return _code_piece_lines(console, piece, options, lexer if lexer not in PLAIN_LEXERS else "text")
    except SlowHighlight:
        PLAIN_LEXERS.add(lexer)
        return _code_piece_lines(console, piece, options, "text")


def _code_piece_lines(console: Console, piece: CodePiece, options: ConsoleOptions, lexer: str) -> list[list[Segment]]:
    from rich.syntax import Syntax

    code = marked("\n".join([*piece.context, *piece.lines]))
    shown = len(piece.lines)
    if piece.last:
        code = code.rstrip()  # as rich draws a whole block: its last blank lines are not drawn
        shown = code.count("\n") + 1 - len(piece.context) if code else 0
    if shown <= 0:  # nothing left to show but the block's bottom edge
        edge = lines_of(console, Syntax(" ", lexer, theme=CODE_THEME, word_wrap=True, padding=1), options)
        return edge[-1:]
    start = len(piece.context) + 1
    syntax = Syntax(code, lexer, theme=CODE_THEME, word_wrap=True, padding=1, line_range=(start, start + shown - 1))
    lines = lines_of(console, syntax, options)
    return lines[(0 if piece.first else 1) : (None if piece.last else -1)]
