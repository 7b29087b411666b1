"""The streaming renderer: block splitting, sanitizing, what ends up on a screen, bounded work."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence

import pyte
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kimi_repl import render
from kimi_repl.blocks import BlockSplitter, CodePiece
from kimi_repl.client import ContentDelta, Finished, StreamEvent
from kimi_repl.render import MarkdownReplyView
from kimi_repl.sanitize import for_terminal
from kimi_repl.views import PlainReplyView
from tests.fake import markdown_sample
from tests.helpers import CapturedDisplay, screen_of


def texts(items: Sequence[str | CodePiece]) -> list[str]:
    """Finished blocks, none of them a piece of code (nothing was let go)."""
    assert all(isinstance(item, str) for item in items)
    return [item for item in items if isinstance(item, str)]


def split_all(text: str, step: int) -> list[str]:
    splitter = BlockSplitter()
    blocks: list[str] = []
    for i in range(0, len(text), step):
        blocks += texts(splitter.feed(text[i : i + step]))
    rest = texts([splitter.flush()])
    return blocks + [block for block in rest if block.strip()]


def test_blocks_end_at_blank_lines() -> None:
    assert split_all("para one\nstill one\n\n# Head\n\n- a\n- b\n", 3) == [
        "para one\nstill one",
        "# Head",
        "- a\n- b\n",
    ]


def test_blank_lines_inside_a_code_fence_do_not_end_the_block() -> None:
    text = "```python\nx = 1\n\n\ny = 2\n```\nafter\n"
    assert split_all(text, 1) == ["```python\nx = 1\n\n\ny = 2\n```", "after\n"]


def test_fence_closes_only_with_same_character_and_enough_length() -> None:
    text = "````\n```\nstill code\n\n````\n\nnext"
    assert split_all(text, 2) == ["````\n```\nstill code\n\n````", "next"]


def test_tilde_fence() -> None:
    assert split_all("~~~\na\n\nb\n~~~\n", 4) == ["~~~\na\n\nb\n~~~"]


def test_tail_holds_the_unfinished_block() -> None:
    splitter = BlockSplitter()
    assert splitter.feed("done\n\nhalf a li") == ["done"]
    assert splitter.tail == "half a li"
    splitter.feed("ne\nnext")
    assert splitter.tail == "half a line\nnext"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab `~#-|\n中")), max_size=300), st.integers(1, 17))
def test_splitting_keeps_every_character_whatever_the_chunking(text: str, step: int) -> None:
    """Joined back, the blocks and the tail are the text, minus only the blank lines between blocks."""
    splitter = BlockSplitter()
    pieces: list[str] = []
    for i in range(0, len(text), step):
        pieces += texts(splitter.feed(text[i : i + step]))
    pieces += texts([splitter.flush()])
    assert all(block.strip() for block in pieces[:-1])  # a finished block is never blank (the view relies on it)
    assert "".join(pieces).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(" ", "")
    assert pieces[:-1] == [b for b in split_all(text, len(text) or 1) if b][: len(pieces) - 1]


def stream_into_terminal(text: str, step: int = 5) -> tuple[list[str], MarkdownReplyView]:
    display = CapturedDisplay(terminal=True, width=100, height=60)
    view = display.reply()
    assert isinstance(view, MarkdownReplyView)
    for i in range(0, len(text), step):
        view.content(text[i : i + step])
    view.close()
    return screen_of(display.output), view


def test_streamed_markdown_is_rendered_once_without_raw_syntax_or_duplicates() -> None:
    text = (
        "# Title\n\nSome **bold** text.\n\n- one\n- two\n\n"
        "```python\nprint('hi')\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    lines, view = stream_into_terminal(text)
    shown = "\n".join(lines)
    assert "Title" in shown and "bold" in shown and "print('hi')" in shown
    assert "**" not in shown and "```" not in shown and "# Title" not in shown
    assert sum("print('hi')" in line for line in lines) == 1
    assert sum("one" in line for line in lines) == 1
    assert view.stats.frozen_blocks == 5


def test_model_newlines_are_kept_and_chinese_renders() -> None:
    lines, _ = stream_into_terminal("床前明月光，\n疑是地上霜。\n")
    assert lines[0] == "床前明月光，" and lines[1] == "疑是地上霜。"


def test_hostile_reply_cannot_clear_the_screen_or_set_the_title() -> None:
    display = CapturedDisplay(terminal=True)
    display.console.print("earlier output")
    view = display.reply()
    view.content("hi \x1b[2J\x1b[H\x1b]0;pwned\x07 there\n")
    view.close()
    screen = pyte.Screen(100, 40)
    pyte.Stream(screen).feed(display.output.replace("\n", "\r\n"))
    assert screen.display[0].startswith("earlier output")
    assert screen.title != "pwned"


def stream_at_pace(text: str, clock: list[float], *, step: int = 7, height: int = 40) -> MarkdownReplyView:
    """Stream ``text`` at 1,400 characters a second of (fake) time into a terminal view."""
    display = CapturedDisplay(terminal=True, width=100, height=height)
    view = display.reply()
    assert isinstance(view, MarkdownReplyView)
    for i in range(0, len(text), step):
        clock[0] += 0.005
        view.content(text[i : i + step])
    view.close()
    return view


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [0.0]
    monkeypatch.setattr(render, "_now", lambda: now[0])
    return now


def test_rendering_work_per_character_does_not_grow_with_the_reply(clock: list[float]) -> None:
    small, large = markdown_sample(2), markdown_sample(200)
    costs = []
    for text in (small, large):
        start = clock[0]
        view = stream_at_pace(text, clock)
        stats = view.stats
        assert stats.frozen_chars <= len(text), "every character is frozen (rendered for good) once"
        assert stats.frames <= (clock[0] - start) * render.FRAMES_PER_SECOND + 2, "frames follow the clock"
        assert stats.prints <= stats.frames + 1, "finished blocks are printed together, once a frame"
        assert stats.live_renders <= stats.frames + 1
        costs.append((stats.frozen_chars + stats.live_chars) / len(text))
    assert costs[1] <= costs[0] * 1.25, f"characters rendered per character grew: {costs}"


def test_costly_frames_come_less_often_but_at_least_five_a_second(
    clock: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare = MarkdownReplyView._prepare

    def costly_prepare(view: MarkdownReplyView) -> None:
        clock[0] += 0.003  # each frame takes 3 ms: at a 2% share, the next waits 150 ms
        prepare(view)

    monkeypatch.setattr(MarkdownReplyView, "_prepare", costly_prepare)
    start = clock[0]
    view = stream_at_pace(markdown_sample(20), clock)
    seconds = clock[0] - start
    assert seconds * render.MIN_FRAMES_PER_SECOND - 2 <= view.stats.frames <= seconds / 0.15 + 2


def test_a_burst_of_text_is_drawn_in_a_couple_of_frames(clock: list[float]) -> None:
    view = stream_at_pace(markdown_sample(200), [0.0], step=4096)  # the fake clock does not move
    assert view.stats.frames <= 2 and view.stats.live_renders <= 2
    # printed in groups of a few KB (never one render of the whole backlog: memory), so in few prints
    assert view.stats.largest_print <= 2 * render.PRINT_CHARS
    assert view.stats.prints <= view.stats.frozen_chars / render.PRINT_CHARS + 2


def test_the_first_words_are_drawn_at_once_and_later_ones_a_frame_later(clock: list[float]) -> None:
    display = CapturedDisplay(terminal=True, width=100, height=40)
    view = display.reply()
    assert isinstance(view, MarkdownReplyView)

    def live() -> str:
        return "".join(segment.text for line in view.live_region.lines for segment in line)

    view.content("\n")
    assert view.stats.frames == 0 and view.until_next_frame() == 0  # nothing to see yet: no frame, no waiting
    view.content("## Sect")
    assert view.stats.frames == 1 and "Sect" in live()  # the first words, as they arrive (the clock has not moved)
    assert view.until_next_frame() == 0  # and the reader does not wait to show the rest of the first line
    view.content("ion 1: first words\nmore")
    assert view.stats.frames == 2 and "Section 1: first words" in live()  # the first line, whole, at once
    view.content(" text")
    assert view.stats.frames == 2 and view.until_next_frame() > 0  # later words wait for the next frame
    clock[0] += 1 / render.FRAMES_PER_SECOND
    view.content(" again")
    assert view.stats.frames == 3 and "more text again" in live()
    view.close()


def test_a_huge_unfinished_block_is_previewed_by_its_end_and_printed_as_it_goes(clock: list[float]) -> None:
    code = "```python\n" + "".join(f"value_{i} = compute({i})  # a line of code\n" for i in range(3000))
    view = stream_at_pace(code, clock, step=40, height=30)
    per_render = view.stats.live_chars / max(1, view.stats.live_renders)
    assert per_render < 40 * 45, f"each live render re-rendered {per_render:.0f} characters"
    assert view.stats.frozen_blocks == 1 and view.stats.frozen_chars >= len(code) - 20
    assert view.stats.largest_print < len(code) / 10, "the block was printed whole at its end, not as it streamed"


def test_live_tail_never_taller_than_the_screen() -> None:
    display = CapturedDisplay(terminal=True, width=80, height=10)
    view = display.reply()
    assert isinstance(view, MarkdownReplyView)
    view.content("```\n" + "".join(f"line {i}\n" for i in range(50)))
    assert len(view.live_region.lines) <= 8
    view.close()


def test_plain_view_writes_text_as_it_arrives() -> None:
    display = CapturedDisplay(terminal=False)
    view = display.reply()
    assert isinstance(view, PlainReplyView)
    view.content("**raw** \x1b[31mmarkdown")
    view.close()
    assert display.output == "**raw** [31mmarkdown\n"


class FakeTime:
    """A clock for :mod:`kimi_repl.chat.replier`: a stream's waits and the reader's sleeps move it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FramedView(PlainReplyView):
    """A view that draws every tenth of a second."""

    def __init__(self, clock: FakeTime) -> None:
        super().__init__(io.StringIO())
        self.clock = clock

    def until_next_frame(self) -> float:
        return 0.1 - self.clock.now % 0.1


def events_in_bursts(gap: float, burst: int, count: int, clock: FakeTime) -> Iterator[StreamEvent]:
    """``count`` tokens, ``burst`` of them every ``gap`` seconds (as packets bring them); what arrived during a
    sleep is read without waiting."""
    for index in range(count):
        clock.now = max(clock.now, (index // burst + 1) * gap)  # waiting for the packet, unless it is there
        yield ContentDelta("tok ")
    yield Finished("stop", None)


@pytest.mark.parametrize(("gap", "burst", "gathers"), [(1 / 200, 1, True), (0.002, 50, False)])
def test_a_slow_stream_gathers_between_frames_and_a_fast_one_is_read_as_it_comes(
    monkeypatch: pytest.MonkeyPatch, gap: float, burst: int, gathers: bool
) -> None:
    from kimi_repl.chat import replier

    clock = FakeTime()
    monkeypatch.setattr(replier, "time", clock)
    events = 2000
    stream = lambda: events_in_bursts(gap, burst, events, clock)  # noqa: E731
    result = replier.stream_round(stream, FramedView(clock), gone=lambda: False)
    assert result.content == "tok " * events and result.reason == "stop"
    if gathers:  # a model at 200 tokens a second: a wake-up or so a frame, not one a token
        assert 0 < len(clock.sleeps) <= clock.now * 10 + 1
        assert max(clock.sleeps) <= replier.GATHER_SECONDS
    else:  # 25,000 tokens a second: never held back, its end shows as it arrives
        assert clock.sleeps == []
        assert clock.now == pytest.approx(events / burst * gap)


def test_the_live_block_sits_where_it_will_be_printed() -> None:
    """The unfinished block is previewed one blank line below the printed ones, as it will be printed: a
    finished block does not jump."""
    display = CapturedDisplay(terminal=True)
    view = display.reply()
    assert isinstance(view, MarkdownReplyView)
    view.content("# Title\n\nA paragraph in progress\n")
    assert view.stats.prints == 1
    first, second = view.live_region.lines[:2]
    assert first == [] and "A paragraph in progress" in "".join(segment.text for segment in second)
    view.close()
    shown = screen_of(display.output)
    title = next(index for index, line in enumerate(shown) if "Title" in line)
    assert shown[title + 1].strip() == "" and "A paragraph in progress" in shown[title + 2]


def cells_of(output: str, width: int, height: int = 800) -> list[list[tuple[str, str, str]]]:
    """Every character a terminal shows after ``output``, with its colours (a screen tall enough to keep all)."""
    screen = pyte.Screen(width, height)
    pyte.Stream(screen).feed(output.replace("\n", "\r\n"))
    return [
        [(cell.data, cell.fg, cell.bg) for cell in map(screen.buffer[row].__getitem__, range(width))]
        for row in range(height)
    ]


def test_a_long_code_block_scrolls_into_view_as_it_streams_and_ends_as_if_printed_whole(clock: list[float]) -> None:
    code = "".join(
        f"def f_{i}(x):\n    '''A docstring\n    of two lines.'''\n    return x + {i}\n\n" for i in range(60)
    )
    text = "Before the code.\n\n```python\n" + code + "```\n\nAfter the code.\n"
    display = CapturedDisplay(terminal=True, width=80, height=20)
    view = display.reply()
    assert isinstance(view, MarkdownReplyView)
    for i in range(0, len(text), 40):
        clock[0] += 0.05
        view.content(text[i : i + 40])
        if "def f_40" in text[: i + 40] and "def f_40" not in text[:i]:
            assert "f_10(x)" in display.output, "the block's first lines were not printed while it streamed"
    view.close()
    assert view.stats.frozen_blocks == 3 and view.stats.prints > 5
    whole = CapturedDisplay(terminal=True, width=80, height=20)
    at_once = whole.reply()
    at_once.content(text)
    at_once.close()
    assert cells_of(display.output, 80) == cells_of(whole.output, 80)  # same text, same colours


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(["x = 1", "", "  y = '''a", "b'''", "```", "~~~", "# c"]), max_size=60),
    st.integers(1, 23),
    st.integers(0, 6),
)
def test_letting_go_of_code_keeps_every_line_in_order(lines: list[str], step: int, keep: int) -> None:
    text = "intro\n\n```python\n" + "\n".join(lines) + "\n```\n\nend\n"
    splitter = BlockSplitter()
    items: list[str | CodePiece] = []
    for i in range(0, len(text), step):
        items += splitter.feed(text[i : i + step])
        piece = splitter.release(keep, at_least=1)
        if piece is not None:
            items.append(piece)
    items.append(splitter.flush())
    shown: list[str] = []
    for item in items:
        if isinstance(item, CodePiece):
            shown += [item.opening] * item.first + list(item.lines)
        elif item:
            shown += item.split("\n")

    def content(lines: list[str]) -> list[str]:  # fence lines aside (a piece's closing fence is not shown)
        return [line for line in lines if line and not line.lstrip().startswith(("```", "~~~"))]

    assert content(shown) == content(split_whole(text))


def split_whole(text: str) -> list[str]:
    return "\n".join(split_all(text, len(text))).split("\n")


def test_a_code_block_that_arrives_within_a_second_is_drawn_whole(clock: list[float]) -> None:
    code = "```python\n" + "".join(f"value_{i} = compute({i})\n" for i in range(400)) + "```\n"
    display = CapturedDisplay(terminal=True, width=80, height=20)
    view = display.reply()
    for i in range(0, len(code), 40):
        clock[0] += 0.002  # 20,000 characters a second
        view.content(code[i : i + 40])
    view.close()
    assert clock[0] < render.CODE_PIECE_SECONDS
    assert view.stats.prints == 1 and view.stats.frozen_blocks == 1  # one render, as the floor does


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(["x = 1", "", "", "    y = 2", "    # c", "z(1, 2)"]), max_size=14),
    st.integers(1, 9),
    st.integers(0, 3),
    st.booleans(),
)
def test_code_let_go_in_pieces_draws_exactly_like_the_whole_block(
    lines: list[str], step: int, keep: int, closed: bool
) -> None:
    """Blank lines first or last included: a block's last blank lines are not drawn, whichever way it comes.
    (Strings across pieces: the docstring test above; a string whose lines start at the margin is coloured
    from that line on, the one thing pieces may draw differently.)"""
    from rich.console import Console

    from kimi_repl.highlight import code_piece_lines
    from kimi_repl.markdown import markdown_lines

    text = "```python\n" + "".join(f"{line}\n" for line in lines) + ("```\n" if closed else "")
    console = Console(file=io.StringIO(), force_terminal=True, width=40, color_system="truecolor")
    splitter = BlockSplitter()
    drawn = []
    for i in range(0, len(text), step):
        items = splitter.feed(text[i : i + step])
        piece = splitter.release(keep, at_least=1)
        for item in [*items, *([piece] if piece else [])]:
            drawn += (
                code_piece_lines(console, item, console.options)
                if isinstance(item, CodePiece)
                else (markdown_lines(console, item, console.options))
            )
    rest = splitter.flush()
    if isinstance(rest, CodePiece):
        drawn += code_piece_lines(console, rest, console.options)
    elif rest.strip():
        drawn += markdown_lines(console, rest, console.options)
    whole = markdown_lines(console, text, console.options)
    assert [[(s.text, s.style) for s in line] for line in drawn] == [
        [(s.text, s.style) for s in line] for line in whole
    ]


@pytest.mark.parametrize(
    "text",
    ["👨\u200d👩\u200d👧 family", "\x9b\u200d\x9b", "é\u200d\x9bé", "a\u200db", "ب\u200dب\r\n", "\u200d\u200dé"],
)
def test_a_pipe_shows_joiners_as_the_whole_reply_would_wherever_the_pieces_split(text: str) -> None:
    whole = for_terminal(text)
    expected = whole + ("\n" if whole and not whole.endswith("\n") else "")
    for size in range(1, len(text) + 1):
        pipe = io.StringIO()
        view = PlainReplyView(pipe)
        for start in range(0, len(text), size):
            view.content(text[start : start + size])
        view.close()
        assert pipe.getvalue() == expected, size


def test_thinking_that_never_reached_an_answer_does_not_offer_to_show_it(clock: list[float]) -> None:
    """Ctrl-C (or a spent budget) while the model thinks keeps no reply: /thinking show would have nothing."""
    display = CapturedDisplay(terminal=True, width=100, height=40)
    view = display.reply()
    view.reasoning("Let me think about this. ")
    clock[0] += 0.8
    view.close()
    assert "Thought for 0.8 s" in display.output and "/thinking show" not in display.output
    display = CapturedDisplay(terminal=True, width=100, height=40)
    view = display.reply()
    view.reasoning("Let me think. ")
    view.content("The answer.")
    view.close()
    assert "/thinking show to see it" in display.output
