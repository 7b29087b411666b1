"""What the program shows between prompts: replies, notices, errors, tables (the prompt and the banner above
it are prompt_toolkit's, in ``repl.py``).

rich is loaded on first use, not on import, so that the first prompt shows before rich and the markdown
renderer have loaded (a noticeable share of the start-up); they load in the background while the user types
the first message.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any

from kimi_repl.redaction import Secret
from kimi_repl.sanitize import command_output, for_clipboard, for_terminal, one_line

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from kimi_repl.views import ReplyView


def _text(message: str, style: str = "") -> Text:
    from rich.text import Text

    return Text(message, style=style)


class GuardedStream:
    """A text stream whose writes never fail: once the other end is gone (a closed terminal, a closed pipe),
    what is written is dropped and :attr:`gone` is set, so that the program can save its work and leave."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                try:
                    self._stream.write(text)
                except UnicodeEncodeError:  # a character the terminal's encoding lacks: not a terminal gone
                    encoding = getattr(self._stream, "encoding", None) or "utf-8"
                    self._stream.write(text.encode(encoding, "replace").decode(encoding, "replace"))
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
    """The one place that writes replies, notices, errors and tables to the terminal.

    Notices are printed with soft wrapping so each stays one logical line; errors and warnings go to
    ``err_console`` (standard error unless told otherwise) so a pipe receives only the answer. Writing to a
    terminal or pipe that has gone away never raises: :attr:`gone` says so instead.
    """

    def __init__(
        self, console: Console | None = None, err_console: Console | None = None, *, secret: str | None = None
    ) -> None:
        self.show_thinking = False
        self.hints = True
        """Slash-commands may be named in what is shown (False in one-shot mode, where there are none)."""
        self.secret = Secret(secret)
        """The API key: no notice, error or table ever shows it."""
        self._out = GuardedStream(sys.stdout)
        if console is not None:
            self.console = self.err_console = console
        if err_console is not None:
            self.err_console = err_console

    @functools.cached_property
    def console(self) -> Console:
        """Standard output's console (created on first use)."""
        from rich.console import Console

        return Console(highlight=False, file=self._out)  # type: ignore[arg-type]

    @functools.cached_property
    def err_console(self) -> Console:
        """Standard error's console (created on first use)."""
        from rich.console import Console

        return Console(highlight=False, file=GuardedStream(sys.stderr))  # type: ignore[arg-type]

    @property
    def gone(self) -> bool:
        """Standard output went away (the terminal hung up, or the pipe was closed)."""
        return self._out.gone

    @contextlib.contextmanager
    def working(self, what: str) -> Iterator[Callable[[str], None]]:
        """A spinner while a slow step runs (in a terminal); Ctrl-C stops the step. What it yields changes the
        line beside the spinner (a percentage, the next phase); outside a terminal it does nothing."""
        if not self.console.is_terminal:
            yield lambda text: None
            return

        def line(text: str) -> Text:
            return _text(f"{one_line(self.secret.redact_shown(text))} (Ctrl-C stops)", "dim")

        with self.console.status(line(what), spinner="dots") as status:
            yield lambda text: status.update(line(text))

    def reply(self, *, model: str = "the reply", resume: str = "") -> ReplyView:
        """A view for the next streamed reply: markdown in a terminal, plain text otherwise.

        Args:
            resume: the reply this one continues, if it does.
        """
        from kimi_repl.render import MarkdownReplyView
        from kimi_repl.views import PlainReplyView

        if self.console.is_terminal:
            return MarkdownReplyView(
                self.console,
                waiting_for=model,
                show_thinking=self.show_thinking,
                resume=resume,
                hints=self.hints,
                secret=self.secret,
            )
        return PlainReplyView(self.console.file, secret=self.secret)

    def gap(self) -> None:
        """An empty line, to set a reply apart from the next prompt."""
        if self.console.is_terminal:
            self.console.print()

    def _line(self, console: Console, message: str, style: str) -> None:
        # In a terminal a long notice wraps between words (not mid-word at the edge); elsewhere it stays one line.
        whole = not console.is_terminal or console.is_dumb_terminal  # a pipe, a file, Emacs: one line, as it is
        console.print(_text(one_line(self.secret.redact_shown(message)), style), soft_wrap=whole)

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
        self.console.print(_text(for_terminal(self.secret.redact_shown(message))))

    def shell_output(self, text: str) -> None:
        """A piece of a shell command's output as it streams, made safe (no line end added)."""
        self.console.print(_text(command_output(self.secret.redact_shown(text))), end="", soft_wrap=True)
        self.console.file.flush()

    def rows(self, rows: Sequence[Sequence[str]], *, title: str | None = None) -> None:
        """A borderless table, first column bold: for /help, /models, /history, /sessions."""
        from rich.table import Table

        if title:
            self.console.print(_text(title, "bold"), soft_wrap=True)
        if not self.console.is_terminal:  # a pipe or a file: one plain line per row, never cut (grep-able)
            for row in rows:
                line = "  ".join(one_line(self.secret.redact_shown(cell)) for cell in row if cell)
                self.console.print(_text(line), soft_wrap=True)
            return
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
        columns = max((len(row) for row in rows), default=0)
        for index in range(columns):
            table.add_column(style="bold" if index == 0 else None, no_wrap=index == 0)
        for row in rows:
            table.add_row(*(_text(one_line(self.secret.redact_shown(cell))) for cell in row))
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
