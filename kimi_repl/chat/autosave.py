"""Autosave: the current session's file, kept in step with the conversation.

Every change the chat core makes is recorded here as it happens. A write that fails is told once, and the
chat goes on; the first write that works again saves everything, and that is told too. Taking up a saved
session appends to its file, unless another kimi-repl has it open (or it is to be left alone): then it is
forked, its turns going on in a new session.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from kimi_repl.chat.outcomes import AutosaveFailed, AutosaveRecovered, Observer, StoreNote
from kimi_repl.conversation import Conversation
from kimi_repl.sessions import Resumed, SessionLog, SessionStore
from kimi_repl.transcript import TranscriptError


class Autosave:
    """The file of the current conversation (none when ``store`` is None: sessions are not saved).

    Attributes:
        log: the current session's file, or None.
        failed: the last write failed (and was told): the next that works says the session is saved again.
    """

    def __init__(self, store: SessionStore | None, tell: Observer) -> None:
        self.store = store
        self.tell = tell
        self.log: SessionLog | None = None
        self.failed = False
        self.left: list[SessionLog] = []
        """Files of conversations left (/rewind, /new, /resume...) while a write had failed: each still holds its
        conversation and its lock, and is saved whole as soon as writing works again, or before the end."""

    def _leave(self) -> None:
        """Let go of the current file: closed, unless a failed write left it short; then kept in :attr:`left`."""
        log, self.log = self.log, None
        if log is None:
            return
        if log.dirty:
            with contextlib.suppress(TranscriptError):
                log.save_whole()
        if log.dirty:
            self.left.append(log)
        else:
            log.close()

    def start(self, conversation: Conversation) -> None:
        """Let go of the current file; ``conversation`` is saved in a new one (created with its first record)."""
        self._leave()
        if self.store is not None:
            self.log = self.store.new_log(conversation)

    def take_up(self, path: Path) -> Resumed:
        """Read the saved session in ``path`` to take it up; what the store noted is told.

        The caller switches to its conversation, then :meth:`continue_in` its log, or forks it when the store
        leaves it alone (``log`` is None, ``why`` says why).

        Raises:
            TranscriptError: it cannot be read, sessions are not saved, or it is the one open here.
        """
        if self.store is None:
            raise TranscriptError("sessions are not saved in this mode")
        if self.log is not None and self.log.path == path:
            raise TranscriptError("that is the session open here already")
        resumed = self.store.resume(path)
        for note in resumed.notes:
            self.tell(StoreNote(note))
        return resumed

    def continue_in(self, log: SessionLog) -> None:
        """Append to ``log`` (a resumed session's) from now on; it becomes the one ``-c`` continues."""
        self._leave()
        self.log = log
        with contextlib.suppress(OSError):
            os.utime(log.path)

    def record(self, action: Callable[[SessionLog], None]) -> None:
        """Apply ``action`` to the session file. A failure is told at once (the chat goes on); so is the first
        write that works again, which saves everything."""
        log = self.log
        if log is None:
            return
        was_dirty = log.dirty or bool(self.left)
        try:
            action(log)
        except TranscriptError as error:
            if not self.failed:
                self.failed = True
                self.tell(AutosaveFailed(error))
            return
        self._save_left()
        if was_dirty and self.failed and not self.left:
            self.failed = False
            self.tell(AutosaveRecovered(str(log.path)))

    def _save_left(self) -> None:
        """Save the files left short, now that writing works (best effort: the rest wait for the next try)."""
        for left in list(self.left):
            with contextlib.suppress(TranscriptError):
                left.save_whole()
            if not left.dirty:
                self.left.remove(left)
                left.close()

    def flush(self) -> str | None:
        """Save whatever an earlier failure left unsaved (in the current file and the ones left); return why it
        still cannot be saved, or None."""
        problem = None
        self._save_left()
        if self.left:
            problem = f"{self.left[0].path} could not be written"
        log = self.log
        if log is not None and log.dirty:
            try:
                log.save_whole()
            except TranscriptError as error:
                problem = str(error)
        if problem is None:
            self.failed = False
        return problem

    def close(self) -> None:
        """The session ends: its lock goes (and the locks of files left), and a session this run made but left
        empty is removed."""
        for log in [*self.left, *([self.log] if self.log is not None else [])]:
            log.close()
        self.left.clear()
