"""Big pastes: asked about, and kept out of the input line.

A bracketed paste longer than :data:`ASK_CHARS` is not put in the input line at once: the prompt asks (y
keeps it, n or Esc drops it). A kept paste is shown in the line as a short marker, ``⟦paste 1: 2.0 MB, 40,000
lines⟧``, and put back in its place when the message is sent, so the input line stays quick to edit and
the history file small. Deleting the marker drops the paste.

A command is what the user types. Pasted text that would start the line with ``/`` or ``!`` (a slash-command or
a shell command) and is not one short line, all of it in view, is kept behind a marker too, and so is a message
given back (↑): a line that starts with a marker is always a message.

Ctrl-V (:func:`clipboard_bindings`) reads the clipboard itself: its picture is attached, its text goes the
same way as a bracketed paste.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prompt_toolkit.application import Application, run_in_terminal
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.filters import Condition
from prompt_toolkit.input.vt100_parser import Vt100Parser
from prompt_toolkit.key_binding import KeyBindings, KeyPress, KeyPressEvent
from prompt_toolkit.keys import Keys

from kimi_repl.safefiles import byte_size

ASK_CHARS = 100_000
"""Pastes up to this many characters go straight into the input line (a long file of code is fine)."""

IN_VIEW_CHARS = 200
"""A pasted command longer than this (or of several lines) is not all in view: it goes behind a marker."""


def command_like(text: str) -> bool:
    """Whether ``text`` would run as a slash-command or a shell command if it started the input line."""
    return text.lstrip()[:1] in ("/", "!")


def size(text: str) -> str:
    """``2.0 MB, 40,000 lines`` for a message about a paste."""
    amount = byte_size(len(text.encode("utf-8", errors="replace")))
    lines = text.count("\n") + (not text.endswith("\n"))  # a last line ending: no line after it
    return f"{amount}, {lines:,} line{'s' if lines != 1 else ''}"


class Pastes:
    """The paste waiting for an answer, and the kept ones behind their markers."""

    def __init__(self) -> None:
        self.asking: str | None = None
        self._kept: dict[str, str] = {}

    def question(self) -> str:
        """What the prompt asks while a paste waits."""
        held = self.asking or ""
        return f" Paste {size(held)}? y keeps it as one block of your message, n drops it "

    def keep(self) -> str:
        """Keep the waiting paste; return the marker that stands for it in the input line."""
        text, self.asking = self.asking or "", None
        marker = f"⟦paste {len(self._kept) + 1}: {size(text)}⟧"
        self._kept[marker] = text
        return marker

    def drop(self) -> None:
        self.asking = None

    def receive(self, data: str, buffer: Buffer, app: Application[Any]) -> None:
        """A paste arrived: typed in if it is small, else asked about."""
        data = data.replace("\r\n", "\n").replace("\r", "\n")
        starts_line = not buffer.document.text_before_cursor.strip()
        hidden = "\n" in data.strip() or len(data) > IN_VIEW_CHARS
        if starts_line and command_like(data) and hidden and len(data) <= ASK_CHARS:
            self.asking = data  # not run unseen: it goes as (part of) a message
            buffer.insert_text(self.keep())
            return
        if len(data) <= ASK_CHARS:
            buffer.insert_text(data)
            return
        self.asking = data
        app.invalidate()

    def expand(self, line: str) -> str:
        """``line`` with each marker (its first occurrence) replaced by its paste."""
        for marker, text in self._kept.items():
            if marker in line:
                line = line.replace(marker, text, 1)
        return line

    def shorten(self, text: str) -> str:
        """``text`` as the input line may hold it: a long one, or one that would run as a command, kept behind a
        marker (a message given back)."""
        if len(text) <= ASK_CHARS and not command_like(text):
            return text
        self.asking = text
        return self.keep()


def paste_bindings(pastes: Pastes) -> KeyBindings:
    """Bracketed pastes: small ones typed in, big ones asked about (y / n, Esc or Ctrl-C)."""
    bindings = KeyBindings()
    asking = Condition(lambda: pastes.asking is not None)

    @bindings.add(Keys.BracketedPaste)
    def paste(event: KeyPressEvent) -> None:
        pastes.receive(event.data, event.current_buffer, event.app)

    @bindings.add("y", filter=asking, eager=True)
    @bindings.add("Y", filter=asking, eager=True)
    def keep(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text(pastes.keep())

    @bindings.add("n", filter=asking, eager=True)
    @bindings.add("N", filter=asking, eager=True)
    @bindings.add("escape", filter=asking, eager=True)
    @bindings.add("c-c", filter=asking, eager=True)
    def drop(event: KeyPressEvent) -> None:
        pastes.drop()
        event.app.invalidate()

    @bindings.add(Keys.Any, filter=asking, eager=True)
    def wait(event: KeyPressEvent) -> None:
        """Other keys do nothing until the question is answered."""

    return bindings


def clipboard_bindings(pastes: Pastes, attach: Callable[[bytes], None], tell: Callable[[str], None]) -> KeyBindings:
    """Ctrl-V: the clipboard's picture goes to ``attach``; else its text is pasted as a bracketed paste is.

    The clipboard tool is waited for (at most :data:`kimi_repl.clipboard.reading.READ_SECONDS`), so keys typed
    after Ctrl-V (Enter) come after the picture. ``tell`` shows, above the prompt, why nothing was pasted. A
    terminal that pastes on Ctrl-V itself (a bracketed paste) never sends the key.
    """
    bindings = KeyBindings()

    @bindings.add("c-v", filter=Condition(lambda: pastes.asking is None))
    def paste_clipboard(event: KeyPressEvent) -> None:
        from kimi_repl.clipboard import ClipboardError, clipboard_paste

        try:
            held = clipboard_paste()
        except ClipboardError as error:
            message = str(error)
            run_in_terminal(lambda: tell(message))
            return
        if held.picture is not None:
            attach(held.picture)
        else:
            pastes.receive(held.text or "", event.current_buffer, event.app)

    return bindings


_PASTE_END = "\x1b[201~"


class LinearPasteParser(Vt100Parser):
    """prompt_toolkit's input parser, with a bracketed paste gathered in linear time.

    Its own adds each read to the whole paste so far and searches all of it for the end mark: a 20 MB paste
    took minutes before anything could ask about it. Here the reads are kept as pieces, the end mark is looked
    for only where it can be (the new read, and the end of the one before), and the paste is joined once.
    """

    def __init__(self, feed_key_callback: Any) -> None:
        self._pieces: list[str] = []
        self._tail = ""  # the paste's last characters: the end mark may begin in them
        super().__init__(feed_key_callback)

    def feed(self, data: str) -> None:
        if not self._in_bracketed_paste:
            super().feed(data)  # which comes back here with the rest once a paste begins
            return
        seen = self._tail + data
        self._pieces.append(data)
        self._tail = seen[-(len(_PASTE_END) - 1) :]
        if _PASTE_END not in seen:
            return
        whole = "".join(self._pieces)
        self._pieces.clear()
        self._tail = ""
        end = whole.find(_PASTE_END, max(0, len(whole) - len(seen)))
        self._in_bracketed_paste = False
        self.feed_key_callback(KeyPress(Keys.BracketedPaste, whole[:end]))
        self.feed(whole[end + len(_PASTE_END) :])


def gather_pastes_linearly(source: object) -> None:
    """Give a prompt_toolkit input (a terminal's or a pipe's) the :class:`LinearPasteParser` (others: as they are)."""
    parser = getattr(source, "vt100_parser", None)
    if isinstance(parser, Vt100Parser) and not isinstance(parser, LinearPasteParser):
        source.vt100_parser = LinearPasteParser(parser.feed_key_callback)  # type: ignore[attr-defined]
