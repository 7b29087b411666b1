"""Untrusted replies of any size or shape: the renderer's work is linear in the text, what one frame or one print
draws is bounded, nothing is lost from the screen without a note saying so. Nothing here is timed: work is
counted (the view's RenderStats, what the splitter holds)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator

import pyte
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.segment import Segment

from kimi_repl import blocks, markdown, render
from kimi_repl.blocks import (
    BLOCK_CHARS,
    BLOCK_LINES,
    CODE_PIECE_CHARS,
    LINE_CHARS,
    BlockSplitter,
    CodePiece,
    CutBlock,
    PartialLine,
)
from kimi_repl.markdown import markdown_lines
from kimi_repl.render import LIVE_SCREENS, MarkdownReplyView
from kimi_repl.sanitize import for_terminal
from kimi_repl.views import PlainReplyView
from tests.helpers import CapturedDisplay

KEPT = "(the whole reply is kept: /copy, /save)"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [0.0]
    monkeypatch.setattr(render, "_now", lambda: now[0])
    return now


def terminal_view(width: int = 100, height: int = 40) -> tuple[CapturedDisplay, MarkdownReplyView]:
    display = CapturedDisplay(terminal=True, width=width, height=height)
    view = display.reply()
    assert isinstance(view, MarkdownReplyView)
    return display, view


def stream(view: MarkdownReplyView, text: str, clock: list[float], *, step: int, seconds: float = 0.0) -> None:
    """Feed ``text`` in pieces of ``step`` characters, ``seconds`` of (fake) time apart, then close the view."""
    for i in range(0, len(text), step):
        clock[0] += seconds
        view.content(text[i : i + step])
    view.close()


def shown(output: str, width: int = 100, height: int = 400) -> list[str]:
    """The lines a terminal shows after ``output`` (tall enough to keep them all)."""
    screen = pyte.Screen(width, height)
    pyte.Stream(screen).feed(output.replace("\n", "\r\n"))
    return [line.rstrip() for line in screen.display]


def plain(lines: list[list[Segment]]) -> list[str]:
    return ["".join(segment.text for segment in line) for line in lines]


# -- work linear in the text -------------------------------------------------------------------------


def test_a_line_of_angle_brackets_is_checked_in_one_pass() -> None:
    """The check for what the parser decodes stops at the next ``<``: a run of them costs one scan, not one per
    bracket."""
    assert markdown._DECODED_BY_THE_PARSER.search("<" * 2_000_000) is None
    assert markdown._DECODED_BY_THE_PARSER.search("<" * 2_000_000 + " %") is None
    assert markdown._DECODED_BY_THE_PARSER.search("<<http://x/%1B>") is not None  # an autolink's escape
    assert markdown._DECODED_BY_THE_PARSER.search("<http://x/ %1B>") is None  # not an autolink


def test_a_long_run_of_fence_characters_is_read_in_one_pass() -> None:
    assert blocks.FENCE_OPEN.match("~" * 2_000_000 + "`") is None
    assert blocks.FENCE_OPEN.match("`" * 2_000_000 + "`x`") is None
    opening = blocks.FENCE_OPEN.match("~~~~ python")
    assert opening is not None and opening.group(1) == "~~~~"


def test_a_line_arriving_in_pieces_is_copied_once_until_it_ends() -> None:
    """Each piece is joined once, with the 63 after it; the line is joined once more when it ends."""
    line = PartialLine()
    for _ in range(100_000):
        line.add("abc")
    assert line.length == 300_000
    assert len(line._groups) == 100_000 // 64 and all(len(group) == 64 * 3 for group in line._groups)
    assert len(line._pieces) == 100_000 % 64
    assert line.part(299_990, 300_000) == "cabcabcabc" and line.part(1, 5) == "bcab"
    assert line.take() == "abc" * 100_000 and line.length == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="ab", max_size=90), max_size=200), st.integers(0, 20_000), st.integers(0, 20_000))
def test_any_part_of_a_partial_line_reads_as_the_same_slice_of_the_whole(
    pieces: list[str], start: int, length: int
) -> None:
    line = PartialLine()
    for piece in pieces:
        line.add(piece)
    whole = "".join(pieces)
    start = min(start, len(whole))
    stop = min(start + length, len(whole))
    assert line.part(start, stop) == whole[start:stop]


def test_a_huge_single_line_is_previewed_by_a_bounded_end_and_printed_cut_with_a_note(clock: list[float]) -> None:
    text = "lorem ipsum dolor " * 120_000  # 2 MB, no newline
    display, view = terminal_view()
    stream(view, text, clock, step=4000, seconds=0.2)  # a frame for every piece
    stats = view.stats
    budget = LIVE_SCREENS * 40 * 100 + 1
    assert stats.live_renders > 100, "the live region followed the line"
    assert stats.live_chars <= stats.live_renders * budget, "a live render grew with the line"
    assert stats.frozen_chars <= LINE_CHARS and stats.largest_print <= LINE_CHARS
    screen = "\n".join(shown(display.output, height=300))
    assert screen.startswith("lorem ipsum dolor")
    assert f"the rest of this line ({len(text) - LINE_CHARS:,} characters) not shown {KEPT}" in screen


def test_the_splitter_holds_a_bounded_part_of_a_huge_block() -> None:
    splitter = BlockSplitter()
    for i in range(200_000):
        splitter.feed(f"line {i} of a paragraph that goes on\n")
        if i % 10_000 == 0:
            assert len(splitter.tail) <= BLOCK_CHARS + 100
    block = splitter.flush()
    assert isinstance(block, CutBlock) and block.count("\n") < BLOCK_LINES and len(block) <= BLOCK_CHARS
    assert block.startswith("line 0 of a paragraph")
    assert block.note == f"… {200_000 - BLOCK_LINES:,} more lines not shown {KEPT}"


# -- huge finished blocks ----------------------------------------------------------------------------


def test_huge_table_is_truncated_with_a_marker(clock: list[float]) -> None:
    rows = 20_000
    table = "| name | value |\n|---|---|\n" + "".join(f"| row {i} | {i * 7} |\n" for i in range(rows)) + "\nAfter.\n"
    display, view = terminal_view()
    stream(view, table, clock, step=6000)
    assert view.stats.largest_print <= BLOCK_CHARS and view.stats.frozen_chars < 2 * BLOCK_CHARS // 3
    screen = shown(display.output, height=BLOCK_LINES + 20)
    last_row = BLOCK_LINES - 3  # the header and its rule are lines of the block too
    at = next(index for index, line in enumerate(screen) if f"row {last_row} " in line)
    assert screen[at + 1] == f"… {rows - last_row - 1:,} more rows not shown {KEPT}"
    assert "After." in screen[at + 3] and not any(f"row {last_row + 1} " in line for line in screen)


def test_a_paragraph_of_many_lines_is_truncated_with_a_marker(clock: list[float]) -> None:
    lines = 100_000
    display, view = terminal_view()
    stream(view, "".join(f"line {i}\n" for i in range(lines)), clock, step=2000, seconds=0.01)
    assert view.stats.largest_print <= BLOCK_CHARS
    assert view.stats.live_chars <= view.stats.live_renders * LIVE_SCREENS * 40 * 100
    screen = shown(display.output, height=BLOCK_LINES + 10)
    assert f"line {BLOCK_LINES - 1}" in screen and f"line {BLOCK_LINES}" not in screen
    assert f"… {lines - BLOCK_LINES:,} more lines not shown {KEPT}" in screen


def test_the_live_region_of_a_cut_block_shows_where_it_stops(clock: list[float]) -> None:
    _, view = terminal_view()
    for i in range(BLOCK_LINES + 500):
        view.content(f"- item {i}\n")
    clock[0] += 1
    view.content("- one more")
    region = plain(view.live_region.lines)
    assert f"item {BLOCK_LINES - 1}" in region[-2] and region[-1] == f"… 501 more lines not shown {KEPT}"
    view.close()


def test_the_live_preview_of_a_table_with_long_rows_stays_a_table(clock: list[float]) -> None:
    _, view = terminal_view()
    view.content("| a | b |\n|---|---|\n" + "".join(f"| {'x' * 300} {i} | {i} |\n" for i in range(200)))
    region = plain(view.live_region.lines)
    assert len(region) == 38 and "199" in region[-1] and not any("shown as written" in line for line in region)
    assert view.stats.live_chars <= LIVE_SCREENS * 40 * 100 + 100
    view.close()


def test_a_long_list_or_quote_is_truncated_at_its_characters_too() -> None:
    splitter = BlockSplitter()
    line = "> " + "quoted words " * 1000
    finished = splitter.feed("".join(line + "\n" for _ in range(100)) + "\n")
    assert len(finished) == 1 and isinstance(finished[0], CutBlock)
    assert len(finished[0]) <= BLOCK_CHARS
    more = r"… the rest of this line \([\d,]+ characters\) and [\d,]+ more lines not shown .*"
    assert re.fullmatch(more, finished[0].note)


# -- code ----------------------------------------------------------------------------------------------


def code_block(kilobytes: int) -> str:
    line = "value_{0} = compute({0}, 'text')  # a comment\n"
    lines = [line.format(i) for i in range(kilobytes * 1000 // 40)]
    return "```python\n" + "".join(lines) + "```\n"


def test_a_huge_code_block_in_one_burst_is_printed_whole_in_bounded_pieces(clock: list[float]) -> None:
    code = code_block(1000)
    display, view = terminal_view(width=120)
    view.content(code)  # one piece: no frame in between
    view.close()
    stats = view.stats
    assert stats.frozen_blocks == 1 and stats.frozen_chars >= len(code) - 20
    assert stats.largest_print <= CODE_PIECE_CHARS + LINE_CHARS
    assert stats.prints >= len(code) // (CODE_PIECE_CHARS + LINE_CHARS)
    text = re.sub("\x1b\\[[0-9;]*m", "", display.output)
    last = code.count("\n") - 3  # the fence lines aside, from 0
    assert "value_0 = compute(0" in text and f"value_{last} = compute({last}" in text
    assert text.count("value_") == code.count("value_")


def test_the_splitter_holds_a_bounded_part_of_a_streaming_code_block() -> None:
    splitter = BlockSplitter()
    pieces: list[CodePiece] = []
    code = code_block(500)
    for i in range(0, len(code), 7):
        for item in splitter.feed(code[i : i + 7]):
            assert isinstance(item, CodePiece)
            pieces.append(item)
        assert len(splitter.tail) <= CODE_PIECE_CHARS + LINE_CHARS
    rest = splitter.flush()
    assert isinstance(rest, str) and not rest
    assert pieces[0].first and pieces[-1].last and len(pieces) > 5
    assert sum(len(piece.lines) for piece in pieces) == code.count("\n") - 2


def test_a_long_code_line_is_cut_with_a_marker() -> None:
    display, view = terminal_view()
    view.content("```\n" + "x = 1; " * 10_000 + "\ny = 2\n```\n")
    view.close()
    text = "".join(shown(display.output, height=400))
    assert f"… {70_000 - LINE_CHARS:,} more characters not shown {KEPT}" in text
    assert "y = 2" in text


def test_a_fence_at_the_margin_starts_a_block_of_its_own() -> None:
    """Code right after a line of prose is a code block too: it streams in pieces and is never cut."""
    splitter = BlockSplitter()
    finished = splitter.feed("Here is the code:\n```python\nx = 1\n")
    assert finished == ["Here is the code:"] and splitter.reopening() == "```python\n"
    assert splitter.release(0, at_least=1) is not None


def test_continuing_a_code_block_opened_right_after_prose_reopens_its_fence() -> None:
    assert blocks.reopening("Look:\n```python\nx = 1\n") == "```python\n"


# -- text never lost without a note ------------------------------------------------------------------


def lines_of(text: str, width: int = 100) -> list[str]:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    return plain(markdown_lines(console, text, console.options))


def test_deeply_nested_lists_and_quotes_are_shown_as_written_with_a_note() -> None:
    nested = "".join("  " * depth + f"- item{depth}\n" for depth in range(14))
    drawn = lines_of(nested)
    assert drawn[0] == "(nested too deeply to lay out: shown as written)"
    assert all(f"item{depth}" in "\n".join(drawn) for depth in range(14))
    quote = lines_of("> " * 25 + "deep quote text")
    assert quote[0].startswith("(nested too deeply") and "deep quote text" in quote[1]
    assert lines_of("> > quote in a quote") == ["▌ ▌ quote in a quote"]  # what fits is drawn as markdown


def test_nesting_is_laid_out_while_the_width_allows_it() -> None:
    nested = "".join("  " * depth + f"- item{depth}\n" for depth in range(6))
    assert "• item5" in "\n".join(lines_of(nested, width=60))
    assert lines_of(nested, width=20)[0].startswith("(nested too deeply")


def test_a_table_with_more_columns_than_fit_is_shown_as_written() -> None:
    columns = 40
    table = "|" + "|".join(f"c{i}" for i in range(columns)) + "|\n|" + "---|" * columns + "\n"
    drawn = lines_of(table)
    assert drawn[0] == "(a table with more columns than fit the screen: shown as written)"
    assert "c39" in "".join(drawn[1:])
    assert "c3" in "".join(lines_of(table.replace("|---" * 30, "", 1).replace("|c", "|", 30)))


def test_a_table_row_with_more_cells_than_its_header_is_shown_as_written() -> None:
    drawn = lines_of("| a | b |\n|---|---|\n| 1 | 2 | 3 |\n")
    assert drawn[0] == "(a table row with more cells than its header: shown as written)"
    assert drawn[-1] == "| 1 | 2 | 3 |"


def test_blocks_printed_together_fall_back_one_by_one() -> None:
    display, view = terminal_view()
    view.content("# Title\n\n" + "> " * 25 + "deep\n\nA **bold** paragraph.\n\n")
    view.close()
    screen = shown(display.output)
    assert "# Title" not in screen and any("Title" in line for line in screen)
    assert "A bold paragraph." in screen and "> " * 25 + "deep" in screen


# -- many links -----------------------------------------------------------------------------------------


class NoInsert(list):  # type: ignore[type-arg]
    def insert(self, index: object, item: object) -> None:
        raise AssertionError("an insert moves every token after it")


def test_many_links_show_their_targets_without_inserting_into_the_tokens() -> None:
    text = " ".join(f"[link {i}](https://example.com/{i})" for i in range(5_000))
    inline = next(token for token in markdown._markdown_template()[1].parse(text) if token.children)
    children = markdown._show_link_targets(NoInsert(inline.children or []))
    targets = [token.content for token in children if token.content.startswith(" (")]
    assert targets == [f" (https://example.com/{i})" for i in range(5_000)]


def test_finding_code_blocks_for_copy_parses_blocks_only() -> None:
    text = "Some [link](x) and `code`.\n\n```python\nx = 1\n```\n\n    indented\n\n- ```\n  in a list\n  ```\n"
    assert markdown.code_blocks(text) == ["x = 1\n", "indented\n", "in a list\n"]
    assert all(not token.children for token in markdown._block_parser().parse(text))


# -- thinking and the plain view ----------------------------------------------------------------------


def test_a_long_line_of_thinking_is_printed_whole(clock: list[float]) -> None:
    display = CapturedDisplay(terminal=True, width=100, height=40)
    display.show_thinking = True
    view = display.reply()
    line = " ".join(f"w{i}" for i in range(1500))  # longer than the preview keeps
    for i in range(0, len(line), 7):
        clock[0] += 0.05
        view.reasoning(line[i : i + 7])
    view.reasoning("\nnext thought")
    view.content("The answer.\n")
    view.close()
    screen = " ".join(shown(display.output, height=200))
    assert "w0 w1 w2" in screen and "w1499" in screen and "next thought" in screen


def test_a_burst_of_thinking_is_printed_in_bounded_groups(clock: list[float], monkeypatch: pytest.MonkeyPatch) -> None:
    printed: list[int] = []
    display = CapturedDisplay(terminal=True, width=100, height=40)
    display.show_thinking = True
    view = display.reply()
    assert isinstance(view, MarkdownReplyView)
    original = view.console.print

    def counting_print(*objects: object, **options: object) -> None:
        printed.append(sum(len(str(getattr(item, "plain", ""))) for item in objects))
        original(*objects, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(view.console, "print", counting_print)
    view.reasoning("".join(f"thought {i}\n" for i in range(50_000)) + "x" * (3 * LINE_CHARS) + "\n")
    clock[0] += 1
    view.content("Answer.\n")
    view.close()
    assert max(printed) <= render.PRINT_CHARS + LINE_CHARS + 100
    assert f"{2 * LINE_CHARS:,} more characters not shown (kept: /save)" in display.output


def test_the_plain_view_keeps_a_joiner_that_starts_a_piece() -> None:
    display = CapturedDisplay()
    view = display.reply()
    for piece in ("a 👨", "\u200d👩 and 字", "\u200d字 and x", "\u200dy"):
        view.content(piece)
    view.close()
    assert display.output == "a 👨\u200d👩 and 字\u200d字 and xy\n"


# -- fuzz ------------------------------------------------------------------------------------------------

WORDS = ["alpha", "bravo", "delta", "kilo", "sierra"]


ATOMS = [
    *(f" {word} " for word in WORDS),
    " 中文 ",
    " 字",
    "\n",
    "\n\n",
    "- ",
    "* ",
    "1. ",
    "> ",
    "> " * 12,
    "".join("  " * depth + f"- {WORDS[depth % 5]} \n" for depth in range(12)),
    "# ",
    "## ",
    "  ",
    "    ",
    "\t",
    "```\n",
    "```python\n",
    "~~~\n",
    "| a | b |\n|---|---|\n",
    "|",
    "---\n",
    "**",
    "*",
    "_",
    "`",
    "[",
    "](https://example.com/",
    ")",
    "<b>",
    "</b>",
    "<div>\n",
    "<!-- ",
    " -->",
    "&amp;",
    "&#27;",
    "\x1b[2J",
    "\x07",
    "\x9b",
    "\u202e",
    "\u2066",
    "\u200b",
    "\u200d",
    "\r\n",
    "\r",
    "\u2028",
    "👨",
]


replies = st.lists(
    st.one_of(st.sampled_from(ATOMS), st.integers(50, 400).map(lambda n: " " + "x" * n + " ")), max_size=120
).map("".join)


def chunks(text: str, sizes: list[int]) -> Iterator[str]:
    start = 0
    for size in sizes or [len(text) or 1]:
        if start >= len(text):
            return
        yield text[start : start + size]
        start += size
    if start < len(text):
        yield text[start:]


def squashed(text: str) -> str:
    """The letters of ``text``, lower case, nothing else (words split by wrapping join up again)."""
    return re.sub("[^a-z]", "", text.lower())


@settings(max_examples=120, deadline=None)
@given(replies, st.lists(st.integers(1, 40), max_size=300), st.lists(st.sampled_from([0.0, 0.05, 0.3, 1.2])))
def test_any_reply_in_any_chunks_renders_without_error_and_keeps_its_text(
    text: str, sizes: list[int], gaps: list[float]
) -> None:
    pieces = list(chunks(text, sizes))
    assert "".join(pieces) == text

    splitter = BlockSplitter()
    blocks: list[str] = []
    for piece in pieces:
        blocks += [item for item in splitter.feed(piece) if isinstance(item, str)]
    rest = splitter.flush()
    assert isinstance(rest, str) and not isinstance(rest, CutBlock)
    assert all(block.strip() for block in blocks) and not any(isinstance(block, CutBlock) for block in blocks)
    kept = [line for line in "\n".join([*blocks, rest]).split("\n") if line.strip()]
    assert kept == [line for line in text.split("\n") if line.strip()]

    now = [0.0]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(render, "_now", lambda: now[0])
        display, view = terminal_view(height=30)
        for index, piece in enumerate(pieces):
            now[0] += gaps[index % len(gaps)] if gaps else 0.0
            view.content(piece)
        view.close()
    screen = squashed("".join(shown(display.output, height=1500)))
    for word in WORDS:
        assert screen.count(word) >= text.count(f" {word} "), word

    pipe = io.StringIO()
    plain_view = PlainReplyView(pipe)
    for piece in pieces:
        plain_view.content(piece)
    plain_view.close()
    clean = for_terminal(text)
    assert pipe.getvalue() == clean + ("\n" if clean and not clean.endswith("\n") else "")


@settings(max_examples=100, deadline=None)
@given(replies, st.lists(st.integers(1, 40), max_size=300), st.integers(0, 4))
def test_past_tiny_limits_the_splitter_holds_and_gives_back_only_that_much(
    text: str, sizes: list[int], keep: int
) -> None:
    limits = {"BLOCK_LINES": 4, "BLOCK_CHARS": 300, "LINE_CHARS": 60, "CODE_PIECE_CHARS": 200}
    line = 60 + 100  # a code line cut short, with its note
    code = 200 + 3 * line  # what a code block holds at most: its opening, what is not let go yet, a line more
    items: list[str | CodePiece] = []
    with pytest.MonkeyPatch.context() as patch:
        for name, value in limits.items():
            patch.setattr(blocks, name, value)
        splitter = BlockSplitter()
        for piece in chunks(text, sizes):
            items += splitter.feed(piece)
            released = splitter.release(keep, at_least=1)
            items += [released] if released else []
            preview = splitter.preview(3, 500)
            assert preview.count("\n") <= 2 + 3 and len(preview) <= 2 * 500
            assert splitter._chars <= max(300 + 1, code)
        items.append(splitter.flush())
    for item in items:
        if isinstance(item, CodePiece):
            assert sum(len(line) + 1 for line in item.lines) <= code and len(item.lines) <= 4 + 1
            assert all(len(code_line) <= line for code_line in item.lines)
            assert sum(len(line) for line in item.context) <= blocks.CONTEXT_CHARS
        elif item.startswith(("```", "~~~")):
            assert len(item) <= code and item.count("\n") <= 4 + 2
        else:
            assert len(item) <= 300 and item.count("\n") < 4
            assert not isinstance(item, CutBlock) or item.note


@pytest.mark.parametrize("timer_signal", [True, False], ids=["SIGALRM", "the Windows way"])
def test_code_a_lexer_would_take_for_ever_on_is_drawn_plain(
    timer_signal: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some of pygments' lexers take exponential time on an unclosed string of backslashes (Scala, Fish, ...):
    highlighting stops after a second, the block is drawn plain, and so is that language from then on."""
    import io

    from rich.console import Console

    from kimi_repl import lexing
    from kimi_repl.render import MarkdownReplyView

    monkeypatch.setattr(lexing, "TIMER_SIGNAL", timer_signal)
    monkeypatch.setattr(lexing, "ARM_INTERRUPT", interrupt_as_windows_would)

    console = Console(file=io.StringIO(), force_terminal=True, width=100, height=40)
    view = MarkdownReplyView(console)
    text = 'code:\n\n```scala\nval s = "' + "\\" * 80 + "\n```\n\nafter it\n"
    try:
        for at in range(0, len(text), 6):
            view.content(text[at : at + 6])
        view.close()
        assert "after it" in console.file.getvalue()  # type: ignore[attr-defined]
        assert "scala" in lexing.PLAIN_LEXERS
    finally:
        lexing.PLAIN_LEXERS.discard("scala")


def interrupt_as_windows_would(seconds: float) -> Callable[[], None]:
    """A stand-in for the native Windows timer: SIGINT arrives after ``seconds``, even inside C code."""
    import signal

    previous = signal.signal(signal.SIGALRM, lambda signum, frame: signal.raise_signal(signal.SIGINT))
    signal.setitimer(signal.ITIMER_REAL, seconds)

    def cancel() -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

    return cancel


def test_the_windows_timer_never_turns_into_a_ctrl_c(monkeypatch: pytest.MonkeyPatch) -> None:
    """The timer thread interrupts the main thread; an interrupt that arrives as the block ends is dropped,
    and the user's own Ctrl-C during highlighting is still a Ctrl-C."""
    import signal
    import time

    from kimi_repl import lexing

    monkeypatch.setattr(lexing, "HIGHLIGHT_SECONDS", 0.01)
    monkeypatch.setattr(lexing, "TIMER_SIGNAL", False)
    monkeypatch.setattr(lexing, "ARM_INTERRUPT", interrupt_as_windows_would)
    before = signal.getsignal(signal.SIGINT)
    for _ in range(50):  # the timer fires during, at or after the end of the block
        try:
            with lexing.highlight_limit():
                time.sleep(0.01)
        except lexing.SlowHighlight:
            pass
        for _ in range(1000):
            pass  # a pending interrupt would be delivered here, as a KeyboardInterrupt
    assert signal.getsignal(signal.SIGINT) is before
    monkeypatch.setattr(lexing, "HIGHLIGHT_SECONDS", 5.0)
    with pytest.raises(KeyboardInterrupt), lexing.highlight_limit():
        signal.raise_signal(signal.SIGINT)
        time.sleep(1)
