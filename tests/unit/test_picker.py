"""The listed: its filter (the rule of /sessions WORDS), moving, the window drawn, hostile and wide cells, the
deeper search and removal; then the full-screen application driven through a pipe."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.input import PipeInput
from prompt_toolkit.output import DummyOutput
from prompt_toolkit.utils import get_cwidth

from kimi_repl import picker
from kimi_repl.choosing import Choosing, Column, Hits, Removal, Row, fit
from kimi_repl.errors import UserError
from kimi_repl.picker import Picker
from kimi_repl.sessions.folder import matches, needles_of

ESC = "\x1b"
DOWN = "\x1b[B"
UP = "\x1b[A"
PAGE_DOWN = "\x1b[6~"
END = "\x1b[F"
HOME = "\x1b[H"
CTRL_C = "\x03"
CTRL_D = "\x04"
COLUMNS = (Column("Title"), Column("When", 10), Column("N", 5, right=True))


def rows(*titles: str) -> list[Row]:
    return [Row((title, "today", str(number)), (title, f"id-{number}")) for number, title in enumerate(titles)]


def texts(line: StyleAndTextTuples) -> str:
    return "".join(fragment[1] for fragment in line)


def shown_titles(state: Choosing) -> list[str]:
    return [state.cells[index][0] for index in state.shown]


# -- filtering ------------------------------------------------------------------------------------


def test_every_word_must_be_in_some_label_ignoring_case() -> None:
    state = Choosing(COLUMNS, rows("Rust lifetimes", "Python asyncio", "rust and PYTHON", "中文分词"))
    state.filter("rust")
    assert shown_titles(state) == ["Rust lifetimes", "rust and PYTHON"]
    state.filter("RUST python")
    assert shown_titles(state) == ["rust and PYTHON"]
    state.filter("分词")
    assert shown_titles(state) == ["中文分词"]
    state.filter("id-1")  # a label not shown (an id)
    assert shown_titles(state) == ["Python asyncio"]
    state.filter("   ")
    assert len(state.shown) == 4


def test_the_filter_agrees_with_matches_as_words_are_typed_and_taken_back() -> None:
    """The quick filter folds the labels once and narrows from the last result: it must agree with matches()."""
    chance = random.Random(3)
    alphabet = "abcAB中文 ß"
    labels = ["".join(chance.choice(alphabet) for _ in range(chance.randint(0, 12))) for _ in range(600)]
    data = [Row((label,), (label, labels[-1 - n])) for n, label in enumerate(labels)]
    state = Choosing((Column("Title"),), data)
    query = ""
    for _ in range(300):
        query = query[:-1] if query and chance.random() < 0.3 else query + chance.choice(alphabet)
        state.filter(query)
        needles = needles_of(query.split())
        assert state.shown == [i for i, row in enumerate(data) if matches(needles, list(row.labels))], query


def test_a_new_filter_highlights_the_first_row() -> None:
    state = Choosing(COLUMNS, rows(*(f"row {n}" for n in range(30))))
    state.move(5)
    state.filter("row 1")
    assert state.at == 0 and state.current() == 1


# -- moving and drawing ---------------------------------------------------------------------------


def test_moving_stays_in_the_list_and_the_window_follows() -> None:
    state = Choosing(COLUMNS, rows(*(f"row {n}" for n in range(100))))
    lines = state.lines(60, 10)
    assert len(lines) == 10 and "row 0" in texts(lines[0])
    state.move(-3)
    assert state.current() == 0
    state.move(state.page)
    assert state.current() == 10
    lines = state.lines(60, 10)
    assert "row 1 " in texts(lines[0]) and "row 10" in texts(lines[-1])  # the highlighted row at the bottom
    assert lines[-1][0][0] == "class:selected"
    state.move_to(len(state.shown) - 1)
    assert "row 99" in texts(state.lines(60, 10)[-1])
    state.move(1000)
    assert state.current() == 99
    state.move_to(0)
    assert "row 0" in texts(state.lines(60, 10)[0])


class CountingLines(Choosing):
    drawn = 0

    def _line(self, index: int, selected: bool, layout: list[tuple[int, int]], width: int) -> StyleAndTextTuples:
        self.drawn += 1
        return super()._line(index, selected, layout, width)


def test_only_the_rows_on_screen_are_drawn() -> None:
    state = CountingLines(COLUMNS, rows(*(f"row {n}" for n in range(2000))))
    state.lines(80, 20)
    assert state.drawn == 20


def test_nothing_matches_is_one_line() -> None:
    state = Choosing(COLUMNS, rows("a", "b"))
    state.filter("zzz")
    assert state.current() is None and [texts(line).strip() for line in state.lines(40, 5)] == ["Nothing matches."]
    state.move(1)
    assert state.current() is None


def test_fit_counts_terminal_columns() -> None:
    assert fit("abc", 5) == "abc  " and fit("abc", 5, right=True) == "  abc"
    assert fit("abcdef", 4) == "abc…"
    assert fit("中文标题", 5) == "中文…" and get_cwidth(fit("中文标题", 5)) == 5
    assert get_cwidth(fit("中文标题", 4)) == 4  # a wide character that would straddle the edge is left out
    assert fit("x", 0) == ""


@pytest.mark.parametrize("width", [40, 80, 133])
def test_every_line_is_the_width_of_the_terminal_whatever_the_titles(width: int) -> None:
    hostile = [
        "\x1b]0;owned\x07\x1b[2J title with escapes",
        "bidi \u202eevil\u202c and zero\u200bwidth",
        "x" * 10_000,
        "中文标题对齐测试" * 3,
        "tabs\tand\nnewlines\r\n",
        "",
    ]
    state = Choosing(COLUMNS, rows(*hostile, "plain"))
    lines = [state.headings(width), *state.lines(width, 20)]
    for line in lines:
        text = texts(line)
        assert get_cwidth(text) == width, text
        assert not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 or c in "\u202e\u202c\u200b" for c in text), text
    drawn = [texts(line) for line in lines[1:]]
    assert "⟨U+001B⟩]0;owned" in drawn[0] and "⟨U+202E⟩" in drawn[1]
    when_column = {get_cwidth(text[: text.index("today")]) for text in drawn}
    assert len(when_column) == 1  # the next column starts at the same place on every line, 中文 too


# -- the deeper search and removal ----------------------------------------------------------------


def test_rows_found_deeper_join_in_order_and_the_highlight_stays() -> None:
    state = Choosing(COLUMNS, rows("alpha", "beta", "alpha two", "gamma"), found="in messages")
    state.filter("alpha")
    state.move(1)
    assert state.current() == 2
    state.add_found([(3, "a line about alpha"), (0, "also"), (99, "gone")])
    assert shown_titles(state) == ["alpha", "alpha two", "gamma"] and state.current() == 2
    line = texts(state.lines(80, 5)[2])
    assert "gamma" in line and "in messages: a line about alpha" in line
    assert "in messages" not in texts(state.lines(80, 5)[0])  # a row the quick filter shows needs no note
    state.filter("alph")  # new words: the old search's rows go
    assert shown_titles(state) == ["alpha", "alpha two"]


def removal(log: list[str], refuse: int = -1, fail: int = -1) -> Removal:
    def question(index: int) -> str:
        if index == refuse:
            raise UserError("That one stays.")
        return f"Remove row {index}?"

    def remove(index: int) -> str:
        if index == fail:
            raise UserError("It is open elsewhere.")
        log.append(f"removed {index}")
        return f"Removed row {index}."

    return Removal(question, remove)


def test_removing_asks_first_and_only_a_yes_removes() -> None:
    log: list[str] = []
    state = Choosing(COLUMNS, rows("a", "b", "c"), removal=removal(log, refuse=0, fail=2))
    state.ask()
    assert state.asking is None and state.message == "That one stays."
    state.move(1)
    state.ask()
    assert state.asking == "Remove row 1?"
    state.answer(False)
    assert log == [] and state.asking is None and len(state.shown) == 3
    state.ask()
    state.answer(True)
    assert log == ["removed 1"] and shown_titles(state) == ["a", "c"] and state.message == "Removed row 1."
    assert state.current() == 2  # the next row takes its place
    state.ask()
    state.answer(True)
    assert state.message == "It is open elsewhere." and shown_titles(state) == ["a", "c"]
    state.filter("b")
    assert state.shown == []  # removed rows never come back


# -- the application ------------------------------------------------------------------------------


@pytest.fixture
def typed(keys: PipeInput) -> Iterator[Callable[..., int | None]]:
    def run(listed: Picker, text: str, *, later: str = "", after: float = 0.0) -> int | None:
        keys.send_text(text)
        if later:
            threading.Timer(after, keys.send_text, args=(later,)).start()
        with create_app_session(input=keys, output=DummyOutput()):
            return listed.run()

    yield run


def test_type_move_and_enter_chooses_a_row(typed: Callable[..., int | None]) -> None:
    listed = Picker("Pick", COLUMNS, rows("apple pie", "banana", "apple tart", "apple jam"))
    assert typed(listed, "apple" + DOWN + "\r") == 2
    assert typed(listed, END + UP + "\r") == 2
    assert typed(listed, PAGE_DOWN + HOME + "\r") == 0
    assert typed(listed, "zzz\r" + ESC) is None  # Enter with nothing shown does nothing


def test_escape_and_ctrl_c_leave_with_nothing_chosen(typed: Callable[..., int | None]) -> None:
    listed = Picker("Pick", COLUMNS, rows("a", "b"))
    assert typed(listed, DOWN + ESC) is None
    assert typed(listed, DOWN + CTRL_C) is None


def test_ctrl_d_then_y_removes_and_any_other_key_keeps(typed: Callable[..., int | None]) -> None:
    log: list[str] = []
    listed = Picker("Pick", COLUMNS, rows("a", "b", "c"), removal=removal(log))
    assert typed(listed, DOWN + CTRL_D + "n" + CTRL_D + ESC + CTRL_D + "y" + "\r") == 2
    assert log == ["removed 1"]


def test_the_deeper_search_runs_once_typing_pauses_and_a_stale_one_is_stopped(
    typed: Callable[..., int | None],
) -> None:
    searches: list[list[str]] = []
    stopped: list[list[str]] = []

    def deep(words: list[str], stop: Callable[[], bool]) -> Hits:
        searches.append(words)
        if words == ["slow"]:
            deadline = time.monotonic() + 5
            while not stop() and time.monotonic() < deadline:
                time.sleep(0.01)
            stopped.append(words)
            return [(0, "too late")]
        return [(1, "in a message")] if words == ["needle"] else []

    listed = Picker("Pick", COLUMNS, rows("a", "b", "c"), deep=deep)
    pause = picker.SEARCH_PAUSE
    assert typed(listed, "needle", later="\r", after=pause + 0.5) == 1
    assert searches == [["needle"]]
    result = typed(listed, "slow", later="\x7f" * 4 + "b\r", after=pause + 0.3)
    assert result == 1  # the search for "slow" found row 0 too late: dropped
    deadline = time.monotonic() + 5
    while not stopped and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stopped == [["slow"]] and searches == [["needle"], ["slow"]]  # told to stop; "b" never searched


def test_a_plain_list_lets_the_widest_column_take_the_room_and_starts_where_asked(
    typed: Callable[..., int | None],
) -> None:
    plain = Picker.plain("Which?", [("1", "a first message", "x"), ("3", "the second, a longer one"), ("5", "中文")], 2)
    assert [column.width for column in plain.columns] == [1, 0, 1] and plain.start == 2
    state = Choosing(plain.columns, plain.rows, start=plain.start)
    assert state.current() == 2 and [get_cwidth(texts(line)) for line in state.lines(30, 5)] == [30, 30, 30]
    assert typed(plain, "\r") == 2
    assert typed(plain, UP + "\r") == 1
    assert typed(plain, "SECOND\r") == 1
    assert Picker.plain("Nothing", []).run is not None and Choosing((), []).current() is None


def test_a_narrow_terminal_leaves_out_the_last_columns_before_the_title() -> None:
    state = Choosing(COLUMNS, rows("A title that deserves some room"))
    assert texts(state.headings(80)).split() == ["Title", "When", "N"]
    assert texts(state.headings(30)).split() == ["Title", "When"]
    assert texts(state.headings(24)).split() == ["Title"]
    assert "A title that deserve" in texts(state.lines(24, 1)[0])


def test_input_that_ends_leaves_with_nothing_chosen(keys: PipeInput) -> None:
    keys.send_text("app")
    keys.close()
    with create_app_session(input=keys, output=DummyOutput()):
        assert Picker("Pick", COLUMNS, rows("apple")).run() is None
