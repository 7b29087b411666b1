"""A full-screen list to choose one row from: typing filters it, the arrows move, Enter chooses, Esc leaves.

Generic: rows of cells under columns, each row with the texts typing filters it by (every word typed must be in
one of them, ignoring case: the rule of ``/sessions WORDS``, :func:`~kimi_repl.sessions.folder.matches`). A
deeper search may add rows once typing pauses (a session's messages: run in a thread, the one for words no
longer typed told to stop), and Ctrl-D may remove a row after asking. The state and its drawing are in
:mod:`kimi_repl.choosing`; this module shows it full-screen (the alternate screen, given back on every way out)
and turns keys into calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from prompt_toolkit.application import Application
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.filters import Condition
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.input import Input
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.keys import Keys
from prompt_toolkit.layout import HSplit, Layout, Window
from prompt_toolkit.layout.controls import BufferControl, FormattedTextControl, UIContent, UIControl
from prompt_toolkit.output import Output
from prompt_toolkit.styles import Style
from prompt_toolkit.utils import get_cwidth

from kimi_repl.choosing import MAX_CELL_CHARS, Choosing, Column, DeepSearch, Hits, Removal, Row, fit
from kimi_repl.sanitize import one_line

MAX_QUERY_CHARS = 1000
"""The most a paste puts in the filter."""
SEARCH_PAUSE = 0.3
"""Seconds typing must pause before the deeper search starts."""
PLAIN_COLUMN_WIDTH = 30
"""The most a column of a :meth:`Picker.plain` list takes, but the widest one."""
ESCAPE_WAIT = 0.05
"""Seconds a lone Esc waits to be the start of a longer key (an arrow's): long enough for any terminal's."""
STYLE = Style.from_dict(
    {
        "title": "bold",
        "dim": "ansibrightblack",
        "query": "bold",
        "heading": "ansibrightblack underline",
        "selected": "reverse",
        "found": "ansibrightblack italic",
        "question": "ansiyellow bold",
    }
)


@dataclass
class Picker:
    """What to choose from: a ``title``, columns and rows, the keys' ``hints`` for the last line, a deeper
    search (``deep``, what its rows are marked with: ``found``), a removal, what cleans a cell, and the row
    highlighted first."""

    title: str
    columns: Sequence[Column]
    rows: Sequence[Row]
    hints: str = "↑↓ move · Enter choose · Esc leave"
    deep: DeepSearch | None = None
    found: str = "found deeper"
    removal: Removal | None = None
    clean: Callable[[str], str] = one_line
    start: int = 0

    @classmethod
    def plain(cls, title: str, rows: Sequence[Sequence[str]], start: int = 0) -> Picker:
        """A list of ``rows`` without headings, filtered by every cell: the widest column takes what the others
        leave (each at most :data:`PLAIN_COLUMN_WIDTH`)."""
        count = max((len(row) for row in rows), default=0)
        widest = [
            max((get_cwidth(row[at][:MAX_CELL_CHARS]) for row in rows if at < len(row)), default=0)
            for at in range(count)
        ]
        flexible = widest.index(max(widest)) if widest else 0
        widths = [0 if at == flexible else max(1, min(PLAIN_COLUMN_WIDTH, widest[at])) for at in range(count)]
        cells = [Row((*row, *[""] * (count - len(row))), row) for row in rows]
        return cls(title, [Column("", width) for width in widths], cells, start=start)

    def run(self, *, input: Input | None = None, output: Output | None = None) -> int | None:
        """Show the list until a row is chosen (its index) or the user leaves (None). The terminal is given back
        as it was, whichever way it ends."""
        return _run(self, input, output)


def terminal_can_draw() -> bool:
    """Whether standard input and output are a terminal that can show a full-screen list."""
    try:
        both = sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):  # closed or replaced
        return False
    return both and os.environ.get("TERM", "").lower() not in ("dumb", "unknown")


class _RowsControl(UIControl):
    """Draws the rows on screen, and no others."""

    def __init__(self, state: Choosing) -> None:
        self.state = state

    def create_content(self, width: int, height: int) -> UIContent:
        lines = self.state.lines(width, height)
        return UIContent(get_line=lambda number: lines[number], line_count=len(lines), show_cursor=False)

    def is_focusable(self) -> bool:
        return False


class _Searcher:
    """The deeper search, in a thread once typing pauses: one at a time; the one for words no longer typed is
    told to stop, and what it finds is dropped."""

    def __init__(self, search: DeepSearch, state: Choosing, changed: Callable[[], None]) -> None:
        self._search, self._state, self._changed = search, state, changed
        self._generation = 0
        self._timer: asyncio.TimerHandle | None = None
        self._stop = threading.Event()
        self._state.searching = False

    def typed(self, needles: list[str]) -> None:
        """The words changed: drop the search for the old ones; search for these once typing pauses."""
        self.close()
        if needles:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(SEARCH_PAUSE, self._start, loop, self._generation, needles)

    def close(self) -> None:
        self._generation += 1
        self._stop.set()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._state.searching = False

    def _start(self, loop: asyncio.AbstractEventLoop, generation: int, needles: list[str]) -> None:
        self._timer = None
        self._stop = stop = threading.Event()
        self._state.searching = True
        self._changed()
        threading.Thread(target=self._work, args=(loop, generation, needles, stop), daemon=True).start()

    def _work(
        self, loop: asyncio.AbstractEventLoop, generation: int, needles: list[str], stop: threading.Event
    ) -> None:
        try:
            hits = self._search(needles, stop.is_set)
        except Exception:  # the quick filter's rows stay: the picker must not die of one unreadable file
            hits = []
        if not stop.is_set():
            with contextlib.suppress(RuntimeError):  # the loop closed: the picker is gone
                loop.call_soon_threadsafe(self._done, generation, hits)

    def _done(self, generation: int, hits: Hits) -> None:
        if generation == self._generation:
            self._state.searching = False
            self._state.add_found(hits)
            self._changed()


def _run(picker: Picker, input: Input | None, output: Output | None) -> int | None:
    state = Choosing(
        picker.columns,
        picker.rows,
        removal=picker.removal,
        found=picker.found,
        clean=picker.clean,
        start=picker.start,
    )
    app: Application[int | None]
    searcher = _Searcher(picker.deep, state, lambda: app.invalidate()) if picker.deep else None

    def typed(buffer: Buffer) -> None:
        state.message = ""
        if state.filter(buffer.text) and searcher is not None:
            searcher.typed(state.needles)

    def header() -> StyleAndTextTuples:
        width = app.output.get_size().columns
        count = state.counted() + (" · searching…" if state.searching else "")
        title = fit(" " + picker.clean(picker.title), max(0, width - get_cwidth(count) - 2))
        return [("class:title", title), ("class:dim", f"{count} ")]

    def footer() -> StyleAndTextTuples:
        width = app.output.get_size().columns
        if state.asking is not None:
            return [("class:question", fit(f" {state.asking} [y/N]", width))]
        return (
            [("", fit(f" {state.message}", width))]
            if state.message
            else [("class:dim", fit(f" {picker.hints}", width))]
        )

    query = Buffer(multiline=False, on_text_changed=typed)
    headings = Window(FormattedTextControl(lambda: state.headings(app.output.get_size().columns)), height=1)
    prompt = Window(
        BufferControl(query, input_processors=[]),
        height=1,
        get_line_prefix=lambda line, wrap: [("class:dim", " › ")],
        style="class:query",
    )
    windows = [Window(FormattedTextControl(header), height=1), prompt]
    windows += [headings] if any(column.heading for column in picker.columns) else []
    windows += [Window(_RowsControl(state)), Window(FormattedTextControl(footer), height=1)]
    layout = Layout(HSplit(windows), focused_element=query)
    app = Application(
        layout=layout, key_bindings=_keys(state), style=STYLE, full_screen=True, input=input, output=output
    )
    app.ttimeoutlen = ESCAPE_WAIT
    try:
        return app.run()
    except EOFError:  # the terminal went away (its input closed): nothing was chosen
        return None
    finally:
        if searcher is not None:
            searcher.close()


Action = Callable[[KeyPressEvent], None]


def _keys(state: Choosing) -> KeyBindings:
    """The picker's keys. While a question waits, y (or Y) is yes and any other key is no."""
    keys = KeyBindings()
    asking = Condition(lambda: state.asking is not None)

    def key(*names: str | Keys, eager: bool = False) -> Callable[[Action], Action]:
        def bind(action: Action) -> Action:
            def handler(event: KeyPressEvent) -> None:
                if state.asking is not None:
                    state.answer(False)
                    return
                state.message = ""
                action(event)

            for name in names:
                keys.add(name, eager=eager)(handler)
            return action

        return bind

    @key("up", "c-p")
    def up(event: KeyPressEvent) -> None:
        state.move(-1)

    @key("down", "c-n")
    def down(event: KeyPressEvent) -> None:
        state.move(1)

    @key("pageup")
    def page_up(event: KeyPressEvent) -> None:
        state.move(-state.page)

    @key("pagedown")
    def page_down(event: KeyPressEvent) -> None:
        state.move(state.page)

    @key("home")
    def first(event: KeyPressEvent) -> None:
        state.move_to(0)

    @key("end")
    def last(event: KeyPressEvent) -> None:
        state.move_to(len(state.shown) - 1)

    @key("enter", "c-j")
    def choose(event: KeyPressEvent) -> None:
        index = state.current()
        if index is not None:
            event.app.exit(result=index)

    @key("escape", eager=True)
    @key("c-c")
    def leave(event: KeyPressEvent) -> None:
        event.app.exit(result=None)

    @key("c-d")
    def remove(event: KeyPressEvent) -> None:
        state.ask()

    @key(Keys.BracketedPaste)
    def paste(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text(" ".join(event.data[:MAX_QUERY_CHARS].split()))

    @keys.add("y", filter=asking)
    @keys.add("Y", filter=asking)
    def yes(event: KeyPressEvent) -> None:
        state.answer(True)

    @keys.add(Keys.Any, filter=asking)
    def no(event: KeyPressEvent) -> None:
        state.answer(False)

    return keys
