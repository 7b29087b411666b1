"""What a reply view is (where one streamed reply is shown, and what drawing it cost), and the plain one a
pipe gets; :mod:`kimi_repl.render` has the markdown one a terminal gets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Protocol

from kimi_repl.client.ratelimit import RateLimitWait, sleep_through
from kimi_repl.redaction import Secret
from kimi_repl.sanitize import for_terminal


@dataclass
class RenderStats:
    """How much drawing a reply cost, for tests that keep the hot path bounded.

    Attributes:
        frames: frames drawn while the text streamed.
        prints: prints of finished blocks and of pieces of a long code block (a few a frame, and at the end).
        frozen_blocks, frozen_chars: finished blocks and their characters, printed once and for good (a long
            code block counts once, however many pieces it was printed in).
        largest_print: the most characters of finished blocks rendered in one print.
        live_renders, live_chars: renders of the unfinished block for the live region, and their size.
    """

    frames: int = 0
    prints: int = 0
    frozen_blocks: int = 0
    frozen_chars: int = 0
    largest_print: int = 0
    live_renders: int = 0
    live_chars: int = 0


class ReplyView(Protocol):
    """Where one streamed reply is shown."""

    stats: RenderStats

    def reasoning(self, text: str) -> None:
        """Show a piece of the model's thinking."""

    def content(self, text: str) -> None:
        """Show a piece of the answer."""

    def until_next_frame(self) -> float:
        """Seconds until the view draws again: what arrives meanwhile is not shown before (0: at once)."""

    def pause(self, wait: RateLimitWait) -> None:
        """Wait out a rate limit before the request is sent again."""

    def close(self) -> None:
        """The stream is over (finished, cut or interrupted): show what remains."""

    def abandon(self) -> None:
        """Stop showing at once (Ctrl-C while :meth:`close` drew): leave the terminal ready for the next line."""


class PlainReplyView:
    """A reply written as plain text, for a stdout that is not a terminal."""

    def __init__(self, stream: IO[str], *, secret: Secret | None = None) -> None:
        self._stream = stream
        self._ends_with_newline = True
        self._held = ""  # the end of the last piece, whose meaning depends on the next (a joiner, half of \r\n)
        self._before = ""  # the last character cleaned: a joiner after it is kept or not by its neighbours
        self._unsure = ""  # cleaned text that may begin the key, which the next piece could complete
        self._secret = secret if secret else None
        self.stats = RenderStats()

    def pause(self, wait: RateLimitWait) -> None:
        """Wait out a rate limit, quietly: the text goes to a file or a program, not to someone watching."""
        sleep_through(wait)

    def reasoning(self, text: str) -> None:
        """Thinking is not part of the answer a pipe asked for."""

    def content(self, text: str) -> None:
        text = self._held + text
        cut = len(text)
        if cut and text[cut - 1] == "\r":
            cut -= 1
        if cut and text[cut - 1] in ("\u200c", "\u200d"):
            cut -= 1
        text, self._held = text[:cut], text[cut:]
        self._write(self._cleaned(text))

    def _cleaned(self, text: str) -> str:
        """``text`` as the whole reply would be cleaned: the character before decides a leading joiner's fate."""
        if not text:
            return ""
        clean = for_terminal(self._before + text)[len(for_terminal(self._before)) :]
        self._before = text[-1]
        return clean

    def _write(self, clean: str, *, last: bool = False) -> None:
        if self._secret is not None:  # taken out of what is shown; what may begin it waits for the next piece
            clean = self._secret.redact_shown(self._unsure + clean)
            sure = len(clean) if last else self._secret.may_start_at(clean)
            clean, self._unsure = clean[:sure], clean[sure:]
        if clean:
            self._stream.write(clean)
            self._stream.flush()
            self._ends_with_newline = clean.endswith("\n")

    def until_next_frame(self) -> float:
        return 0.0  # a pipe gets each piece as it comes

    def close(self) -> None:
        self._write(self._cleaned(self._held), last=True)
        if not self._ends_with_newline:
            self._stream.write("\n")
        self._stream.flush()

    def abandon(self) -> None:
        if not self._ends_with_newline:
            self._stream.write("\n")
        self._stream.flush()
