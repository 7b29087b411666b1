"""Everything kimi-repl shows: streamed replies as markdown, and one-line notices.

A reply is rendered the way aider's ``mdstream`` does it, made cheaper: the text is cut into markdown blocks
as it arrives; a block that can no longer change (ended by a blank line, or a closed code fence) is rendered
and printed once, and only the unfinished block stays in a ``rich.live.Live`` region that refreshes on its
own clock (15 times a second at most) and is cropped to the screen. The work per token is the splitting of
the new text into lines; rendering happens once per block plus a bounded number of live refreshes.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import re
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Protocol

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.text import Text

from kimi_repl.sanitize import for_clipboard, for_terminal, marked, one_line

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token
    from rich.markdown import Markdown

CODE_THEME = "monokai"
LIVE_REFRESH_PER_SECOND = 15
THINKING_PREVIEW_LINES = 6
THINKING_TAIL_CHARS = 2000

_CODE_TOKENS = frozenset({"fence", "code_block", "code_inline"})


def _now() -> float:
    """The clock the live region and the thinking timer run on (tests replace it)."""
    return time.monotonic()


_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})([^`]*)$")


class BlockSplitter:
    """Cuts streamed markdown into finished blocks and the unfinished tail.

    A block is finished by a blank line outside a code fence, or by the line that closes its fence.
    ``feed`` costs time proportional to the new text only.

    Attributes:
        version: counts changes, so a view can tell whether the tail needs rendering again.
        finished: how many blocks have been finished so far.
    """

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._partial: list[str] = []  # pieces of the unfinished last line (joined only when needed)
        self._fence: str | None = None  # the opening run of ` or ~ while inside a fenced block
        self.version = 0
        self.finished = 0

    def feed(self, text: str) -> list[str]:
        """Add streamed text; return the blocks it finished, in order."""
        self.version += 1
        if "\n" not in text:
            self._partial.append(text)
            if len(self._partial) > 64:  # a very long line: keep joining it cheap
                self._partial = ["".join(self._partial)]
            return []
        head, *middle, last = text.split("\n")
        self._partial.append(head)
        first = "".join(self._partial)
        self._partial = [last] if last else []
        finished: list[str] = []
        for line in (first, *middle):
            block = self._add_line(line)
            if block is not None:
                finished.append(block)
        return finished

    def _add_line(self, line: str) -> str | None:
        if self._fence is not None:
            self._lines.append(line)
            stripped = line.strip()
            if stripped.startswith(self._fence) and stripped.strip(self._fence[0]) == "":
                self._fence = None
                return self._take()
            return None
        if not line.strip():
            return self._take() if self._lines else None
        opening = _FENCE_OPEN.match(line)
        if opening:
            self._fence = opening.group(1)
        self._lines.append(line)
        return None

    def _take(self) -> str:
        block = "\n".join(self._lines)
        self._lines = []
        self.finished += 1
        return block

    def _partial_line(self) -> str:
        # Read-only: the live region's refresh thread calls this while the stream feeds more text.
        return "".join(self._partial)

    @property
    def tail(self) -> str:
        """The unfinished block, partial last line included."""
        return "\n".join([*self._lines, self._partial_line()])

    def preview(self, max_lines: int) -> str:
        """The end of the unfinished block, at most about ``max_lines`` lines, for the live region.

        The block's first two lines stay (a code fence's opening, a table's header), so the end renders
        the way it will in the finished block; the cost does not grow with the block.
        """
        lines = self._lines
        if len(lines) > max_lines + 2:
            lines = lines[:2] + lines[-max_lines:]
        return "\n".join([*lines, self._partial_line()])

    def flush(self) -> str:
        """End of stream: return whatever is left as the last block."""
        rest = self.tail
        self._lines, self._partial, self._fence = [], [], None
        return rest

    def reopening(self) -> str:
        """What a continuation of this text needs in front of it to render as the block it continues.

        Inside a code fence: the fence's opening line (the rest is code, not prose, and its closing fence
        must not open a new one); inside a table: the header and its rule. Otherwise nothing.
        """
        lines = self._lines
        if self._fence is not None and lines:
            return lines[0] + "\n"
        if len(lines) >= 2 and lines[0].lstrip().startswith("|") and set(lines[1].strip()) <= set("|-: "):
            return "\n".join(lines[:2]) + "\n"
        return ""


def reopening(text: str) -> str:
    """:meth:`BlockSplitter.reopening` for a whole text (a reply being continued)."""
    splitter = BlockSplitter()
    splitter.feed(text + "\n" if text and not text.endswith("\n") else text)
    return splitter.reopening()


@dataclass
class RenderStats:
    """How much rendering a reply cost, for tests that keep the hot path bounded."""

    frozen_blocks: int = 0
    frozen_chars: int = 0
    live_renders: int = 0
    live_chars: int = 0


class ReplyView(Protocol):
    """Where one streamed reply is shown."""

    stats: RenderStats

    def reasoning(self, text: str) -> None:
        """Show a piece of the model's thinking."""

    def content(self, text: str) -> None:
        """Show a piece of the answer."""

    def close(self) -> None:
        """The stream is over (finished, cut or interrupted): show what remains."""


def _is_blank(line: list[Segment]) -> bool:
    """A line with only spaces and no background colour (rich's spacing, not a code block's padding)."""
    return all(not seg.text.strip() and not (seg.style and seg.style.bgcolor) for seg in line)


@functools.cache
def _markdown_template() -> tuple[Markdown, MarkdownIt]:
    """A rich Markdown to copy, and one parser for every block (rich builds a new parser per document)."""
    from markdown_it import MarkdownIt
    from rich.markdown import Markdown

    return Markdown("", code_theme=CODE_THEME), MarkdownIt().enable("strikethrough").enable("table")


def chat_markdown(text: str) -> Markdown:
    """``text`` (untrusted) as rich Markdown, made safe, keeping the line breaks the model wrote (as chat UIs do).

    Every token is sanitised for what it is: prose loses control, bidi and invisible characters, code shows
    them as markers, and a link whose text is not its target shows the target after it.
    """
    template, parser = _markdown_template()
    markdown = copy.copy(template)
    markdown.markup = text
    markdown.parsed = parser.parse(text)
    _make_safe(markdown.parsed)
    return markdown


def _make_safe(tokens: list[Token]) -> None:
    for token in tokens:
        token.content = marked(token.content) if token.type in _CODE_TOKENS else for_terminal(token.content)
        for name, value in (token.attrs or {}).items():
            token.attrs[name] = for_terminal(str(value))
        if token.type == "softbreak":
            token.type = "hardbreak"
        if token.children:
            _make_safe(token.children)
            _show_link_targets(token.children)


def _show_link_targets(children: list[Token]) -> None:
    """After each link whose text is not its target, add `` (target)``: no link can pass for another."""
    from markdown_it.token import Token

    index, opened = 0, -1
    while index < len(children):
        token = children[index]
        if token.type == "link_open":
            opened = index
        elif token.type == "link_close" and opened >= 0:
            href = str(children[opened].attrs.get("href", ""))
            shown = "".join(t.content for t in children[opened + 1 : index] if t.type in ("text", "code_inline"))
            if _plain_target(shown) != _plain_target(href):
                children.insert(index + 1, Token("text", "", 0, content=f" ({href})"))
                index += 1
            opened = -1
        index += 1


def _plain_target(url: str) -> str:
    """``url`` without its scheme and trailing slash, lower case: ``example.com`` names ``https://example.com/``."""
    return re.sub(r"^(?:https?://|mailto:)", "", url.strip().lower()).rstrip("/")


def code_blocks(text: str) -> list[str]:
    """The code of each fenced or indented block of markdown ``text``, in order (for /copy code)."""
    _, parser = _markdown_template()
    return [token.content for token in parser.parse(text) if token.type in ("fence", "code_block")]


def warm_up() -> None:
    """Render a little markdown once, off screen, so the first reply does not pay for loading the markdown
    parser, the code highlighter and its theme (about a tenth of a second)."""
    import io

    console = Console(file=io.StringIO(), force_terminal=True, width=80, color_system="truecolor")
    markdown_lines(console, "# Title\n\nSome *text*.\n\n- item\n\n```python\nx = 1\n```\n", console.options)


def markdown_lines(console: Console, text: str, options: ConsoleOptions) -> list[list[Segment]]:
    """``text`` rendered as markdown, without the blank lines rich puts around lists, tables and code."""
    lines = console.render_lines(chat_markdown(text), options, pad=False)
    start, end = 0, len(lines)
    while start < end and _is_blank(lines[start]):
        start += 1
    while end > start and _is_blank(lines[end - 1]):
        end -= 1
    return [_without_padding(line) for line in lines[start:end]]


def _without_padding(line: list[Segment]) -> list[Segment]:
    """``line`` without the trailing spaces rich pads it with (they re-wrap badly when the window narrows)."""
    end = len(line)
    while end and _is_blank(line[end - 1 : end]):
        end -= 1
    trimmed = line[:end]
    if trimmed and trimmed[-1].text.endswith(" ") and not (trimmed[-1].style and trimmed[-1].style.bgcolor):
        last = trimmed[-1]
        trimmed[-1] = Segment(last.text.rstrip(" "), last.style, last.control)
    return trimmed


def _yield_lines(lines: list[list[Segment]], *, end: bool) -> RenderResult:
    """The segments of ``lines`` with line breaks between them (and after the last if ``end``)."""
    new_line = Segment.line()
    for index, line in enumerate(lines):
        if index:
            yield new_line
        yield from line
    if end and lines:
        yield new_line


class _MarkdownBlock:
    """One finished block, rendered once."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from _yield_lines(markdown_lines(console, self.text, options), end=True)


class _LiveTail:
    """The live region: the end of the unfinished block (or the thinking so far), cropped to the screen.

    It is rendered again at most ``LIVE_REFRESH_PER_SECOND`` times a second while a block grows (rich
    repaints it after every printed block too; those repaints reuse the last rendering), and emptied when
    a block is finished (what it showed is part of that block, now printed), so nothing shows twice.
    """

    def __init__(self, view: MarkdownReplyView) -> None:
        self._view = view
        self._key: tuple[int, bool, int, int] | None = None
        self._version = -1
        self._rendered_at = 0.0
        self._lines: list[list[Segment]] = []

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        view = self._view
        if view.waiting:
            yield from console.render(view.spinner, options)
            return
        splitter = view.splitter
        height = max(1, options.size.height - 2)
        key = (splitter.finished, view.thinking_active, options.max_width, height)
        now = _now()
        if key != self._key:
            # A block was just printed above: what was shown here is part of it. Show nothing until the
            # next refresh rather than render the new tail for every printed block.
            self._key, self._lines = key, []
        elif (splitter.version != self._version or view.thinking_active) and (
            now - self._rendered_at >= 1 / LIVE_REFRESH_PER_SECOND
        ):
            self._rendered_at, self._version = now, splitter.version
            thinking = view.thinking_preview()
            if thinking:
                lines = console.render_lines(Text(thinking, style="dim italic"), options, pad=False)
            else:
                text = splitter.preview(height + 2)
                lines = markdown_lines(console, text, options) if text.strip() else []
                view.stats.live_chars += len(text)
            self._lines = lines[-height:]
            view.stats.live_renders += 1
        yield from _yield_lines(self._lines, end=False)


class MarkdownReplyView:
    """A reply rendered as markdown in a terminal: finished blocks printed once, a small live tail.

    A thinking model's reasoning comes first, dim and labelled: with ``show_thinking`` it is printed in
    full as it streams; without, only its last lines show live, and it collapses to one line ("thought for
    4.2 s") when the answer starts.
    """

    def __init__(
        self, console: Console, *, waiting_for: str = "the reply", show_thinking: bool = False, resume: str = ""
    ) -> None:
        """Args:
        resume: the reply this one continues (``/continue``): its unfinished block's opening is fed
            first, unprinted, so that the continuation renders as the code or table it continues.
        """
        from rich.live import Live
        from rich.spinner import Spinner

        self.console = console
        self.show_thinking = show_thinking
        self.waiting = True  # nothing has arrived yet: the live region shows a spinner
        self.spinner = Spinner("dots", Text(f"waiting for {one_line(waiting_for)}…", style="dim"), style="cyan")
        self.splitter = BlockSplitter()
        if resume:
            self.splitter.feed(reopening(resume))
        self.stats = RenderStats()
        self._printed_blocks = 0
        self._thinking_started: float | None = None
        self._thinking_done = False
        self._thinking_tail = ""  # the last characters of the reasoning, for the live preview
        self._tail = _LiveTail(self)
        self._live = Live(
            self._tail,
            console=console,
            refresh_per_second=LIVE_REFRESH_PER_SECOND,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start()

    @property
    def live_region(self) -> _LiveTail:
        """What the live region shows (rendered by rich's refresh thread, or by a test)."""
        return self._tail

    @property
    def thinking_active(self) -> bool:
        """The model is thinking: reasoning has arrived, the answer not yet."""
        return self._thinking_started is not None and not self._thinking_done

    def thinking_preview(self) -> str:
        """What the live region shows while the model thinks (empty once the answer has begun)."""
        if self._thinking_started is None or self._thinking_done:
            return ""
        if self.show_thinking:
            return self._thinking_tail  # the unfinished line; finished ones are printed already
        seconds = _now() - self._thinking_started
        lines = self._thinking_tail.strip().split("\n")[-THINKING_PREVIEW_LINES:]
        return f"✻ Thinking… {seconds:.0f} s\n" + "\n".join(lines)

    def reasoning(self, text: str) -> None:
        self.waiting = False
        if self._thinking_done:
            return
        text = for_terminal(text)
        if self._thinking_started is None:
            self._thinking_started = _now()
            if self.show_thinking:
                self.console.print(Text("✻ Thinking…", style="dim bold"))
        tail = self._thinking_tail + text
        if self.show_thinking and "\n" in tail:
            done, _, tail = tail.rpartition("\n")
            self.console.print(Text(done, style="dim italic"))
        self._thinking_tail = tail[-THINKING_TAIL_CHARS:]

    def content(self, text: str) -> None:
        self.waiting = False
        self._end_thinking()
        for block in self.splitter.feed(text):
            self._print_block(block)

    def _end_thinking(self) -> None:
        if self._thinking_started is None or self._thinking_done:
            return
        self._thinking_done = True
        seconds = _now() - self._thinking_started
        if self.show_thinking:
            if self._thinking_tail:
                self.console.print(Text(self._thinking_tail, style="dim italic"))
            self.console.print(Text(f"✻ Thought for {seconds:.1f} s", style="dim bold"))
        else:
            self.console.print(Text(f"✻ Thought for {seconds:.1f} s (/thinking show to see it)", style="dim"))

    def _print_block(self, block: str) -> None:
        if not block.strip():
            return
        if self._printed_blocks:
            self.console.print()
        self._printed_blocks += 1
        self.stats.frozen_blocks += 1
        self.stats.frozen_chars += len(block)
        self.console.print(_MarkdownBlock(block))

    def close(self) -> None:
        self._end_thinking()
        rest = self.splitter.flush()
        self._live.stop()
        self._print_block(rest)


class PlainReplyView:
    """A reply written as plain text, for a stdout that is not a terminal."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._ends_with_newline = True
        self._held = ""  # a last character whose meaning depends on the next one (a joiner, a \r)
        self.stats = RenderStats()

    def reasoning(self, text: str) -> None:
        """Thinking is not part of the answer a pipe asked for."""

    def content(self, text: str) -> None:
        text, self._held = self._held + text, ""
        if text.endswith(("\u200c", "\u200d")):  # a joiner: whether it stays depends on both its neighbours
            text, self._held = text[:-2], text[-2:]
        elif text.endswith("\r"):  # perhaps half of \r\n
            text, self._held = text[:-1], text[-1]
        self._write(text)

    def _write(self, text: str) -> None:
        clean = for_terminal(text)
        if clean:
            self._stream.write(clean)
            self._stream.flush()
            self._ends_with_newline = clean.endswith("\n")

    def close(self) -> None:
        self._write(self._held)
        if not self._ends_with_newline:
            self._stream.write("\n")
        self._stream.flush()


class GuardedStream:
    """A text stream whose writes never fail: once the other end is gone (a closed terminal, a closed pipe),
    what is written is dropped and :attr:`gone` is set, so that the program can save its work and leave."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                self._stream.write(text)
            except (OSError, ValueError):  # EIO from a hung-up terminal, EPIPE, a closed file
                self.gone = True
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self.gone = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class Display:
    """The one place that writes to the terminal: replies, notices, errors, tables.

    Notices are printed with soft wrapping so each stays one logical line; errors and warnings go to
    ``err_console`` (standard error unless told otherwise) so a pipe receives only the answer. Writing to a
    terminal or pipe that has gone away never raises: :attr:`gone` says so instead.
    """

    def __init__(self, console: Console | None = None, err_console: Console | None = None) -> None:
        self.show_thinking = False
        self._out = GuardedStream(sys.stdout)
        self.console = console or Console(highlight=False, file=self._out)  # type: ignore[arg-type]
        self.err_console = err_console or (
            console if console is not None else Console(highlight=False, file=GuardedStream(sys.stderr))  # type: ignore[arg-type]
        )

    @property
    def gone(self) -> bool:
        """Standard output went away (the terminal hung up, or the pipe was closed)."""
        return self._out.gone

    @contextlib.contextmanager
    def working(self, what: str) -> Iterator[None]:
        """A spinner while a slow step runs (in a terminal); Ctrl-C stops the step."""
        if not self.console.is_terminal:
            yield
            return
        with self.console.status(Text(f"{one_line(what)} (Ctrl-C stops)", style="dim"), spinner="dots"):
            yield

    def reply(self, *, model: str = "the reply", resume: str = "") -> ReplyView:
        """A view for the next streamed reply: markdown in a terminal, plain text otherwise.

        Args:
            resume: the reply this one continues, if it does.
        """
        if self.console.is_terminal:
            return MarkdownReplyView(self.console, waiting_for=model, show_thinking=self.show_thinking, resume=resume)
        return PlainReplyView(self.console.file)

    def gap(self) -> None:
        """An empty line, to set a reply apart from the next prompt."""
        if self.console.is_terminal:
            self.console.print()

    def _line(self, console: Console, message: str, style: str) -> None:
        console.print(Text(one_line(message), style=style), soft_wrap=True)

    def info(self, message: str) -> None:
        """A neutral one-line notice."""
        self._line(self.console, message, "cyan")

    def note(self, message: str) -> None:
        """A quiet remark."""
        self._line(self.console, message, "dim")

    def warning(self, message: str) -> None:
        """Something the user should know about the last reply."""
        self._line(self.err_console, message, "yellow")

    def usage(self, line: str) -> None:
        """The dim token-usage line after a reply (on standard error, so a pipe gets only the answer)."""
        if self.err_console.is_terminal:
            self._line(self.err_console, line, "dim")

    def error(self, message: str) -> None:
        """An error, always one line."""
        self._line(self.err_console, "✗ " + message, "bold red")

    def text(self, message: str) -> None:
        """Untrusted text shown as it is (a system prompt), line breaks kept."""
        self.console.print(Text(for_terminal(message)))

    def rows(self, rows: Sequence[Sequence[str]], *, title: str | None = None) -> None:
        """A borderless table, first column bold: for /help, /models, /history, /sessions."""
        from rich.table import Table

        if title:
            self.console.print(Text(title, style="bold"), soft_wrap=True)
        if not self.console.is_terminal:  # a pipe or a file: one plain line per row, never cut (grep-able)
            for row in rows:
                self.console.print(Text("  ".join(one_line(cell) for cell in row if cell)), soft_wrap=True)
            return
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
        columns = max((len(row) for row in rows), default=0)
        for index in range(columns):
            table.add_column(style="bold" if index == 0 else None, no_wrap=index == 0)
        for row in rows:
            table.add_row(*(Text(one_line(cell)) for cell in row))
        self.console.print(table)

    def copy_to_clipboard(self, text: str) -> bool:
        """Send ``text``, made safe, to the terminal's clipboard with OSC 52; False when not writing to a terminal.

        What lands in the clipboard is what the screen showed: no escape sequence (``ESC[201~`` would end a
        shell's bracketed paste and run what follows), no bidi or invisible characters.
        """
        if not self.console.is_terminal:
            return False
        import base64

        payload = base64.b64encode(for_clipboard(text).encode("utf-8", errors="replace")).decode("ascii")
        self.console.file.write(f"\x1b]52;c;{payload}\x07")
        self.console.file.flush()
        return True
