"""The REPL's own state: what the loop and the commands change between two prompts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kimi_repl.chat.outcomes import MessageReturned, Outcome

Chooser = Callable[[str, list[tuple[str, ...]], int], int | None]
"""Shows ``rows`` under a question, starting at row ``start``; returns the index chosen, or None."""

if TYPE_CHECKING:
    from kimi_repl.picker import Picker


def _no(question: str) -> bool:
    return False


@dataclass
class ReplState:
    """State that belongs to the prompt, not to the chat.

    Attributes:
        pending_input: a message that got no reply, to bring back at the next prompt (↑).
        edit_request: text to open in the editor at the next prompt (/edit), or None.
        prefill: text to put in the input line at the next prompt (the message /rewind went back to), or None.
        choose: shows a list and returns the index of the row chosen, or None (in a terminal only; else None):
            ``choose(question, rows, start)``.
        confirm: asks a yes/no question (the REPL answers it at the terminal; elsewhere the answer is no).
        pick: shows a full-screen list and returns the index of the row chosen (None: none); None where there is
            no terminal to show it on.
        exit_requested: set by /exit, or when the terminal goes away.
        listed: the sessions /sessions showed last, in order: what /resume NUMBER names.
        saved_to: the file /save wrote last (what /save! alone replaces).
    """

    pending_input: str = ""
    edit_request: str | None = None
    prefill: str | None = None
    choose: Chooser | None = None
    confirm: Callable[[str], bool] = _no
    pick: Callable[[Picker], int | None] | None = None
    exit_requested: bool = False
    listed: list[Path] = field(default_factory=list)
    saved_to: Path | None = None

    def take(self, outcome: Outcome) -> None:
        """Observe the chat: a message that got no reply waits for the next prompt."""
        if isinstance(outcome, MessageReturned):
            self.pending_input = outcome.text

    def take_pending_input(self) -> str:
        """The message that never got its reply (a failed request, or a resumed session), once."""
        text, self.pending_input = self.pending_input, ""
        return text
