"""The session picker: every saved session in a full-screen list, newest first, for ``/resume`` and ``kimi-repl -r``
without an id. Typing filters it by title and system prompt at once, and by the messages once typing
pauses; Ctrl-D deletes a session after asking (never the one open here)."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

from kimi_repl.choosing import Column, Hits, Removal, Row
from kimi_repl.errors import UserError
from kimi_repl.listing import relation
from kimi_repl.picker import Picker
from kimi_repl.redaction import Secret
from kimi_repl.sanitize import one_line
from kimi_repl.sessions import SessionInfo, SessionStore

OPEN_HERE = "●"
BRANCHED = "↳"
COLUMNS = (
    Column("", 1),
    Column("Title"),
    Column("When", 10),
    Column("Turns", 5, right=True),
    Column("Model", 24),
)


def when(modified: float, now: float) -> str:
    """When a session last changed, as a person says it: "14:02" today, "yesterday", else its date."""
    try:
        moment = datetime.datetime.fromtimestamp(modified)
    except (OverflowError, OSError, ValueError):  # a time no calendar holds (a file's, set by anyone)
        return "?"
    today = datetime.date.fromtimestamp(now)
    if moment.date() == today:
        return moment.strftime("%H:%M")
    if moment.date() == today - datetime.timedelta(days=1):
        return "yesterday"
    return moment.strftime("%Y-%m-%d")


def _titled(info: SessionInfo) -> str:
    """The title, and where a branch came from (branches share their parent's title)."""
    branch = relation(info)
    return f"{info.title or '(no title)'}{f' ({branch})' if branch else ''}"


class SessionPicker:
    """The saved sessions (the store's catalog) as a picker's rows, and what Ctrl-D deleted meanwhile.

    Args:
        current: the file of the session open here: marked, and never deleted.
        secret: the API key, taken out of everything shown.
    """

    def __init__(self, store: SessionStore, *, current: Path | None = None, secret: Secret | None = None) -> None:
        self.store = store
        listing = store.catalog()
        self.sessions: list[SessionInfo] = listing.sessions
        self.problems = listing.problems
        self.current = current
        self.deleted: list[str] = []
        self._index = {info.path: index for index, info in enumerate(self.sessions)}
        self._clean: Callable[[str], str] = (lambda text: one_line(secret.redact_shown(text))) if secret else one_line

    def rows(self, now: float) -> list[Row]:
        """A row per session: marks, title, when, turns, model; filtered by its labels."""
        return [
            Row(
                (
                    OPEN_HERE if info.path == self.current else BRANCHED if info.origin else "",
                    _titled(info),
                    when(info.modified, now),
                    str(info.turns),
                    info.model,
                ),
                info.labels,
            )
            for info in self.sessions
        ]

    def picker(self, now: float) -> Picker:
        """The picker to show."""
        passed_over = len(self.problems)
        title = "Resume a session: type to filter"
        if passed_over:
            title += f" (⚠ {passed_over} file{'s' if passed_over != 1 else ''} could not be listed: /sessions says why)"
        marks = (f"{OPEN_HERE} open here · " if self.current is not None else "") + f"{BRANCHED} branched"
        return Picker(
            title=title,
            columns=COLUMNS,
            rows=self.rows(now),
            hints=f"↑↓ move · Enter resume · Ctrl-D delete · Esc leave · {marks}",
            deep=self._in_messages,
            found="in messages",
            removal=Removal(self._question, self._delete),
            clean=self._clean,
        )

    def path(self, index: int) -> Path:
        return self.sessions[index].path

    def _in_messages(self, words: list[str], stop: Callable[[], bool]) -> Hits:
        """The sessions whose messages mention every word (found by :meth:`SessionStore.scan_for`)."""
        # The line shown is one holding the first word: first the word fewest titles hold, likely the one found.
        words = sorted(words, key=lambda word: sum(word in info.title.casefold() for info in self.sessions))
        found = self.store.scan_for(words, None, stop=stop)
        return [(self._index[info.path], line) for info, line in found.sessions if info.path in self._index]

    def _question(self, index: int) -> str:
        info = self.sessions[index]
        if info.path == self.current:
            raise UserError("That is the session open here: /clear first, then delete it.")
        busy = self.store.open_elsewhere(info.path)
        if busy:
            raise UserError(busy)
        return f"Delete session {info.id} ({info.turns} turns: {info.title or 'no messages'})?"

    def _delete(self, index: int) -> str:
        info = self.sessions[index]
        self.store.delete(info.path)
        said = f"Deleted session {info.id}."
        self.deleted.append(said)
        return said
