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

    def start(self, conversation: Conversation) -> None:
        """Close the current file; ``conversation`` is saved in a new one (created with its first record)."""
        self.close()
        self.log = None
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
        self.close()
        self.log = log
        with contextlib.suppress(OSError):
            os.utime(log.path)

    def record(self, action: Callable[[SessionLog], None]) -> None:
        """Apply ``action`` to the session file. A failure is told at once (the chat goes on); so is the first
        write that works again, which saves everything."""
        log = self.log
        if log is None:
            return
        was_dirty = log.dirty
        try:
            action(log)
        except TranscriptError as error:
            if not self.failed:
                self.failed = True
                self.tell(AutosaveFailed(error))
            return
        if was_dirty and self.failed:
            self.failed = False
            self.tell(AutosaveRecovered(str(log.path)))

    def flush(self) -> str | None:
        """Save whatever an earlier failure left unsaved; return why it still cannot be saved, or None."""
        log = self.log
        if log is None or not log.dirty:
            return None
        try:
            log.save_whole()
        except TranscriptError as error:
            return str(error)
        self.failed = False
        return None

    def close(self) -> None:
        """The session ends: its lock goes, and a session this run made but left empty is removed."""
        if self.log is not None:
            self.log.close()
