"""Streamed replies drawn as markdown in a terminal (a pipe gets the plain view in :mod:`kimi_repl.views`).

A reply is drawn in frames, driven by the stream itself on the main thread (aider's ``mdstream`` idea, made
cheaper). Each piece of text is cut into blocks as it arrives (:class:`~kimi_repl.blocks.BlockSplitter`:
work proportional to the new text). A frame is drawn when the last one is old enough (at most
:data:`FRAMES_PER_SECOND` a second, fewer when frames are costly), and right away for the first complete
line: the blocks finished since the last frame are rendered and printed together, once and for good, and
the live region below them shows the end of the unfinished block (rendered from at most
:data:`LIVE_SCREENS` screenfuls of its characters), cropped to the screen. A code block
longer than the screen is printed as it streams, about once a second, all but the lines the live region
shows, so that it scrolls into view instead of arriving whole when its fence closes. Nothing refreshes on
its own clock while text flows: a ticker thread runs only while waiting for the first words (a spinner) or
while the model thinks (a timer).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.text import Text

from kimi_repl.blocks import BlockSplitter, CodePiece, CutBlock, PartialLine, cut_line, reopening
from kimi_repl.client.ratelimit import RateLimitWait
from kimi_repl.highlight import code_piece_lines
from kimi_repl.interrupts import held
from kimi_repl.markdown import MarkdownBlocks, markdown_lines
from kimi_repl.redaction import Secret
from kimi_repl.sanitize import for_terminal, one_line
from kimi_repl.segments import note_lines, yield_lines
from kimi_repl.views import RenderStats

FRAMES_PER_SECOND = 8
MIN_FRAMES_PER_SECOND = 5
DRAWING_SHARE = 0.02
"""A costly frame (a table, highlighted code) puts the next one off, so that drawing takes about this share of
the time, down to :data:`MIN_FRAMES_PER_SECOND` (aider's ``mdstream`` adapts its delay the same way)."""
FIRST_LINE_GAP = 0.02
"""Until the first whole line of an answer shows, a frame may follow the last this soon (50 a second)."""
TICKS_PER_SECOND = 10
CODE_PIECE_SECONDS = 1.0
"""A code block longer than the screen is printed as it streams at most this often, and only once it has
streamed this long: the block of a fast reply arrives before then and is drawn whole, in one go."""
PRINT_CHARS = 8192
"""Finished blocks are printed in groups of about this many characters: a backlog (a burst after a stall)
is drawn in several prints, so that rendering it never holds a big document's worth of tokens and lines."""
LIVE_SCREENS = 2
"""The live region renders at most about this many screenfuls of characters of the unfinished block (its end), so
that a frame costs the same whatever the block's size."""
THINKING_PREVIEW_LINES = 6
THINKING_TAIL_CHARS = 2000
THINKING_KEPT = "(kept: /save)"


def _now() -> float:
    """The clock frames and the thinking timer run on (tests replace it)."""
    return time.monotonic()


class _LiveRegion:
    """What the live region shows: lines prepared on a frame, so rich's repaints only copy them."""

    def __init__(self) -> None:
        self.lines: list[list[Segment]] = []

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from yield_lines(self.lines, end=False)


class MarkdownReplyView:
    """A reply rendered as markdown in a terminal: finished blocks printed once a frame, a small live region.

    A thinking model's reasoning comes first, dim and labelled: with ``show_thinking`` it is printed in
    full as it streams; without, only its last lines show live, and it collapses to one line ("thought for
    4.2 s") when the answer starts.

    Args:
        resume: the reply this one continues (``/continue``): its unfinished block's opening is fed
            first, unprinted, so that the continuation renders as the code or table it continues.
    """

    def __init__(
        self,
        console: Console,
        *,
        waiting_for: str = "the reply",
        show_thinking: bool = False,
        resume: str = "",
        hints: bool = True,
        secret: Secret | None = None,
    ) -> None:
        from rich.live import Live
        from rich.spinner import Spinner

        self.console = console
        self.show_thinking = show_thinking
        self.hints = hints  # slash-commands may be named (not in one-shot mode)
        self._clean = secret.redact_shown if secret else str  # the API key never reaches the screen, even in a reply
        self.waiting = True  # nothing has arrived yet: the live region shows a spinner
        self._waiting_text = Text(f"waiting for {one_line(waiting_for)}…", style="dim")
        self.spinner = Spinner("dots", self._waiting_text, style="cyan")
        self.splitter = BlockSplitter()
        if resume:
            self.splitter.feed(reopening(resume))
        self.stats = RenderStats()
        self._ready: list[str | CodePiece] = []  # blocks (and pieces of a long code block) since the last frame
        self._printed = False  # a block was printed: the next ones come after a blank line
        self._framed = False  # a frame of the answer was drawn
        self._first_line = False  # a frame showed a whole line of the answer
        self._frame_at = _now()
        self._frame_gap = 1 / FRAMES_PER_SECOND  # seconds from one frame to the next
        self._piece_at = self._frame_at  # when a piece of a long code block was last printed (or the start)
        self._shown_version = -1  # the splitter's version the live region shows
        self._thinking_started: float | None = None
        self._thinking_done = False
        self._thinking_tail = ""  # the last characters of the reasoning, for the live preview
        self._thinking_line = PartialLine()  # the unfinished line of reasoning (show_thinking)
        self._thinking_lines: list[str] = []  # finished lines of reasoning to print (show_thinking)
        self._region = _LiveRegion()
        self._paused: tuple[RateLimitWait, float] | None = None  # a rate limit being waited out, and until when
        self._lock = threading.Lock()  # the ticker and the stream draw in turn
        self._live = Live(
            self._region,
            console=console,
            auto_refresh=False,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start()
        self._stop_ticking = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="kimi-repl-ticker", daemon=True)
        with self._lock:
            self._prepare()
            self._live.refresh()
        self._ticker.start()

    @property
    def live_region(self) -> _LiveRegion:
        """What the live region shows (its lines are prepared on each frame)."""
        return self._region

    @property
    def thinking_active(self) -> bool:
        """The model is thinking: reasoning has arrived, the answer not yet."""
        return self._thinking_started is not None and not self._thinking_done

    # -- what arrives --------------------------------------------------------------------------------
    def until_next_frame(self) -> float:
        """Seconds until the next frame is due, once the first words are on screen (0 before: no waiting)."""
        if not self._first_line:
            return 0.0
        return max(0.0, self._frame_at + self._frame_gap - _now())

    def pause(self, wait: RateLimitWait) -> None:
        """Wait out a rate limit: the spinner's line counts the seconds down (the ticker redraws it), and
        Ctrl-C stops the wait."""
        deadline = _now() + wait.seconds
        with held(), self._lock:
            self._paused = (wait, deadline)
            self._prepare()
            self._live.refresh()
        try:
            while (left := deadline - _now()) > 0:
                time.sleep(min(left, 1 / TICKS_PER_SECOND))
        finally:
            with held(), self._lock:
                self._paused = None

    def reasoning(self, text: str) -> None:
        with held(), self._lock:  # the stream's thread takes the lock only while held: never left taken
            self.waiting = False
            if self._thinking_done:
                return
            if self._thinking_started is None:
                self._thinking_started = _now()
                if self.show_thinking:
                    self.console.print(Text("✻ Thinking…", style="dim bold"))
            if not self.show_thinking:
                self._thinking_tail = (self._thinking_tail + text)[-THINKING_TAIL_CHARS:]
            elif "\n" in text:  # sanitised whole lines at a time: a joiner's neighbours are known
                head, *middle, last = text.split("\n")
                self._thinking_line.add(head)
                self._thinking_lines += [self._thinking_line.take(), *middle]
                self._thinking_line.add(last)
            else:
                self._thinking_line.add(text)
            if _now() - self._frame_at >= self._frame_gap:
                self._frame()

    def content(self, text: str) -> None:
        with held(), self._lock:
            self.waiting = False
            self._end_thinking()
            self._ready += self.splitter.feed(text)
            since = _now() - self._frame_at
            whole_line = bool(self._ready) or self.splitter.has_lines
            # Until a whole line shows, the first words show as they arrive (a slow model's first chunks).
            first = not self._first_line and text.strip() != ""
            if since >= self._frame_gap or (first and (whole_line or not self._framed or since >= FIRST_LINE_GAP)):
                self._first_line = self._first_line or whole_line
                self._frame()

    def close(self) -> None:
        self._stop_ticking.set()
        with self._lock:
            self._end_thinking(answered=False)  # the answer never began (content() ends the thinking first)
            rest = self.splitter.flush()
            if isinstance(rest, (CodePiece, CutBlock)) or rest.strip():
                self._ready.append(rest)
            self._region.lines = []
            self._live.stop()
            self._print_ready()
        self._ticker.join()

    def abandon(self) -> None:
        self._stop_ticking.set()
        self._live.stop()  # does nothing if it stopped already
        if self.console.is_terminal:
            self.console.file.write("\x1b[0m\n")  # a print cut short may have left a colour on
            self.console.show_cursor(True)
        self.console.file.flush()

    # -- drawing -------------------------------------------------------------------------------------
    def _frame(self) -> None:
        """Print what is finished and redraw the live region (one print, or one refresh)."""
        self._frame_at = _now()
        self._framed = self._framed or not self.waiting
        self.stats.frames += 1
        if self._frame_at - self._piece_at >= CODE_PIECE_SECONDS:  # a long code block scrolls into view
            piece = self.splitter.release(self._live_height(), at_least=1)
            if piece is not None:
                self._ready.append(piece)
                self._piece_at = self._frame_at
        self._prepare()
        self._print_thinking()
        if not self._print_ready():  # a print repaints the live region too; without one, refresh it
            self._live.refresh()
        cost = _now() - self._frame_at
        self._frame_gap = min(1 / MIN_FRAMES_PER_SECOND, max(1 / FRAMES_PER_SECOND, cost / DRAWING_SHARE))

    def _print_ready(self) -> bool:
        """Print what is ready, in order: finished blocks together, each piece of a long code block as it is.
        Whether anything was printed."""
        ready, self._ready = self._ready, []
        blocks: list[str] = []
        for item in ready:
            if isinstance(item, CutBlock):  # the start of a long block: the note about the rest comes after it
                self._print_blocks([*blocks, item], note=item.note)
                blocks = []
            elif isinstance(item, str):
                blocks.append(item)
            else:
                self._print_blocks(blocks)
                blocks = []
                self._print_piece(item)
        self._print_blocks(blocks)
        return bool(ready)

    def _print_blocks(self, blocks: list[str], *, note: str = "") -> None:
        groups = list(_groups(blocks, PRINT_CHARS))
        for index, group in enumerate(groups):
            self._count_print(sum(len(block) for block in group), blocks=len(group))
            last = index == len(groups) - 1
            shown = [self._clean(block) for block in group]
            self.console.print(MarkdownBlocks(shown, after=self._printed, note=note if last else ""))
            self._printed = True

    def _print_piece(self, piece: CodePiece) -> None:
        self._count_print(sum(len(line) + 1 for line in piece.lines), blocks=int(piece.last))
        clean = self._clean
        piece = piece._replace(context=tuple(map(clean, piece.context)), lines=tuple(map(clean, piece.lines)))
        lines = code_piece_lines(self.console, piece, self.console.options)
        self.console.print(_Lines(lines, after=piece.first and self._printed))
        self._printed = True

    def _count_print(self, chars: int, *, blocks: int) -> None:
        self.stats.prints += 1
        self.stats.frozen_blocks += blocks
        self.stats.frozen_chars += chars
        self.stats.largest_print = max(self.stats.largest_print, chars)

    def _live_height(self) -> int:
        """The most lines the live region shows (the screen, but for the prompt's line and one more)."""
        return max(1, self.console.options.size.height - 2)

    def _prepare(self) -> None:
        """Render what the live region shows now: the spinner, the thinking, or the unfinished block's end."""
        console = self.console
        options = console.options
        height = self._live_height()
        if self.waiting:
            if self._paused is not None:
                self.spinner.update(text=Text(_countdown(*self._paused), style="yellow"))
            else:
                self.spinner.update(text=self._waiting_text)
            lines = console.render_lines(self.spinner, options, pad=False)
        elif self.thinking_active:
            preview = self._clean(self._thinking_preview())
            lines = console.render_lines(Text(preview, style="dim italic"), options, pad=False)
        elif self.splitter.version != self._shown_version:
            self._shown_version = self.splitter.version
            text = self._clean(self.splitter.preview(height + 2, LIVE_SCREENS * height * options.max_width))
            lines = markdown_lines(console, text, options) if text.strip() else []
            if self.splitter.continues_code:
                del lines[:1]  # the code block's top edge is printed already: this is its continuation
            elif lines and (self._printed or self._ready):
                lines.insert(0, [])  # the blank line the block will be printed after: it does not jump
            note = self.splitter.note
            if note:
                lines += note_lines(console, note, options)
            self.stats.live_renders += 1
            self.stats.live_chars += len(text)
        else:
            return
        self._region.lines = lines[-height:]

    def _tick(self) -> None:
        """While waiting or thinking, keep the spinner turning and the timer counting; then stop."""
        while not self._stop_ticking.wait(1 / TICKS_PER_SECOND):
            with self._lock:
                if not (self.waiting or self.thinking_active) or self._stop_ticking.is_set():
                    return
                self._prepare()
                self._live.refresh()

    def _thinking_preview(self) -> str:
        if self.show_thinking:  # the end of the unfinished line; finished ones are printed already
            line = self._thinking_line
            return for_terminal(line.part(max(0, line.length - THINKING_TAIL_CHARS), line.length))
        seconds = _now() - (self._thinking_started or _now())
        lines = for_terminal(self._thinking_tail).strip().split("\n")[-THINKING_PREVIEW_LINES:]
        return f"✻ Thinking… {seconds:.0f} s\n" + "\n".join(lines)

    def _print_thinking(self) -> None:
        """Print the finished lines of reasoning (show_thinking), in groups of about :data:`PRINT_CHARS`."""
        lines = [cut_line(for_terminal(self._clean(line)), THINKING_KEPT) for line in self._thinking_lines]
        self._thinking_lines = []
        for group in _groups(lines, PRINT_CHARS):
            self.console.print(Text("\n".join(group), style="dim italic"))

    def _end_thinking(self, *, answered: bool = True) -> None:
        """The thinking is over: collapse it to one line (``answered``: an answer follows, so the reasoning is
        kept with it and ``/thinking show`` can show it)."""
        if self._thinking_started is None or self._thinking_done:
            return
        self._thinking_done = True
        seconds = _now() - self._thinking_started
        if self.show_thinking:
            last = self._thinking_line.take()
            if for_terminal(last):
                self._thinking_lines.append(last)
            self._print_thinking()
            self.console.print(Text(f"✻ Thought for {seconds:.1f} s", style="dim bold"))
        else:
            hint = " (/thinking show to see it)" if self.hints and answered else ""
            self.console.print(Text(f"✻ Thought for {seconds:.1f} s{hint}", style="dim"))


def _countdown(wait: RateLimitWait, deadline: float) -> str:
    """The live line while a rate limit is waited out: ``Rate limit (3 requests): sending again in 17 s…``."""
    left = max(0, math.ceil(deadline - _now()))
    why = "Moonshot is busy" if wait.overloaded else "Rate limit reached"
    if wait.limit:
        why += f" ({wait.limit} requests allowed)"
    return f"{why}: sending again in {left} s (try {wait.attempt + 1} of {wait.retries + 1}; Ctrl-C stops)"


class _Lines:
    """Lines rendered already, printed as they are (after a blank line, when ``after`` says so)."""

    def __init__(self, lines: list[list[Segment]], *, after: bool) -> None:
        self.lines = lines
        self.after = after

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from yield_lines(self.lines, end=True, gap=self.after)


def _groups(blocks: list[str], size: int) -> Iterator[list[str]]:
    """``blocks`` in order, in groups of about ``size`` characters (a longer block is a group alone)."""
    group: list[str] = []
    chars = 0
    for block in blocks:
        if group and chars + len(block) > size:
            yield group
            group, chars = [], 0
        group.append(block)
        chars += len(block)
    if group:
        yield group
