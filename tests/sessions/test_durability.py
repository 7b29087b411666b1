"""Session files survive anything: property tests of what ``sessions.py`` promises.

A random sequence of session events is written through :class:`SessionLog`. Then:

- cut at every byte offset (a crash or ``kill -9`` in the middle of any write), the file loads, and what
  loads is exactly the state after the last write that was whole: every finished turn is there;
- after such a cut, resuming the file and carrying on gives a file that loads with the old state plus the
  new events (a torn tail never gets buried);
- any one write failing half-way (a full disk), or the disk staying full for a while, loses nothing once
  writing works again, and the failure is reported by that very write;
- a second process cannot write the same session: it forks it.

Every turn must come back with its own settings (model, temperature, system prompt, thinking), though turn
records leave out the settings in force, and whole rewrites put settings records where they change. Files that
an older kimi-repl wrote (version 2, the key replaced everywhere: :mod:`tests.old_format`) pass the same tests
once repaired, and resuming one rewrites it as a file that passes them too.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kimi_repl.conversation import Conversation, Document, Turn
from kimi_repl.redaction import REDACTED
from kimi_repl.safefiles import write_all
from kimi_repl.sessions import SESSION_VERSION, SessionBusy, SessionLock, SessionLog, SessionStore, load_file, replay
from kimi_repl.transcript import TranscriptError
from tests.old_format import OldSessionLog

# -- a model of the session: operations that Chat performs, in the order it performs them ----------


Operation = tuple[str, str]


KINDS = ["send", "reply"] * 4 + [
    "fail",
    "undo",
    "retry",
    "other",
    "settings",
    "document",
    "clear",
    "context",
    "rewrite",
]


operations = st.lists(
    st.tuples(
        st.sampled_from(KINDS),
        st.text(alphabet=st.sampled_from(list("ab中\n\x1b\u202e\u200b")), max_size=12),
    ),
    min_size=1,
    max_size=24,
)


@dataclass
class Session:
    """The conversation and the message waiting at the prompt, as Chat holds them."""

    conversation: Conversation
    pending: str = ""


Log = SessionLog | OldSessionLog


def apply(session: Session, log: Log, operation: Operation) -> bool:
    """Do ``operation`` to the session and record it as Chat does; False when it does not apply.

    ``rewrite`` rewrites the whole file, as after a failed write (not for an old log).
    """
    kind, text = operation
    conversation = session.conversation
    turns = conversation.turns
    waiting = bool(turns) and turns[-1].role == "user"
    if kind == "send" and not waiting:
        session.pending = ""
        log.turn(conversation.add_user(f"q {text}"))
    elif kind == "reply" and waiting:
        reply = Turn(role="assistant", content=f"a {text}", model=conversation.model, finish_reason="stop")
        conversation.add_reply(reply)
        log.turn(reply)
    elif kind == "fail" and waiting:
        session.pending = conversation.withdraw_user()
        log.withdraw(session.pending)
    elif kind == "undo" and turns and not waiting:
        log.undo(len(conversation.undo()))
    elif kind == "retry" and turns and not waiting:
        again = Turn(role="assistant", content=f"again {text}", model=conversation.model)
        conversation.replace_reply(again)
        log.turn(again)
    elif kind == "other" and waiting:  # a reply with settings of its own, one a settings record cannot say
        odd = Turn(role="assistant", content=f"o {text}", model=None, temperature=0.25, system=text, thinking=True)
        conversation.add_reply(odd)
        log.turn(odd)
    elif kind == "settings":
        conversation.model = "moonshot-v1-8k" if conversation.model == "kimi-k2.6" else "kimi-k2.6"
        conversation.temperature = None if conversation.temperature else 0.5
        conversation.system = text or None
        conversation.thinking = not conversation.thinking
        log.settings()
    elif kind == "document":
        conversation.documents.append(Document(name=f"d{text}.txt", content=text or "x"))
        log.document(conversation.documents[-1])
    elif kind == "clear" and conversation.documents:
        conversation.documents.clear()
        log.documents_cleared()
    elif kind == "context" and len(turns) >= 2 and not waiting:
        conversation.context_start = len(turns) // 2 * 2 - 2
        log.context()
    elif kind == "rewrite" and isinstance(log, SessionLog) and log.started:
        log.save_whole()
    else:
        return False
    return True


@dataclass(frozen=True)
class State:
    """What a session file must load back to."""

    turns: tuple[tuple[str, str, str | None, float | None, str | None, bool | None], ...]
    pending: str
    model: str
    system: str | None
    thinking: bool | None
    documents: tuple[str, ...]
    context_start: int

    @classmethod
    def of(cls, session: Session) -> State:
        conversation = session.conversation
        turns = conversation.turns
        waiting = bool(turns) and turns[-1].role == "user"
        pending = turns[-1].content if waiting else session.pending
        answered = turns[:-1] if waiting else turns
        return cls(
            tuple((t.role, t.content, t.model, t.temperature, t.system, t.thinking) for t in answered),
            pending,
            conversation.model,
            conversation.system,
            conversation.thinking,
            tuple(d.content for d in conversation.documents),
            min(conversation.context_start, len(answered) // 2 * 2),
        )

    @classmethod
    def loaded(cls, conversation: Conversation, pending: str) -> State:
        return cls.of(Session(conversation, pending))


ID = "20261125-000000-abcd"


OLD_KEYS = ["1", "2", "0", "-", "a", "e", "x", "k", '"', "\\", "}", ":", " ", "sk-local"]
"""Short keys as local servers take them, and the characters that break JSON most when replaced."""


def fresh_conversation() -> Conversation:
    return Conversation(model="kimi-k2.6", id=ID)


@dataclass
class History:
    """(file size, state) after each write that happened since ``floor``, the size after the last whole rewrite (a
    file is never torn inside one: it is renamed into place)."""

    writes: list[tuple[int, State]]
    floor: int = 0

    def record(self, log: Log, session: Session, operation: Operation) -> None:
        if operation[0] == "rewrite":
            self.writes, self.floor = [], log.path.stat().st_size
        if log.path.exists():
            self.writes.append((log.path.stat().st_size, State.of(session)))


def write_history(
    folder: Path, ops: list[Operation], write: Callable[[int, bytes], None] = write_all, *, old_key: str | None = None
) -> tuple[Log, Session, History]:
    """Run ``ops``; return the log, the session, and what was written when.

    With ``old_key``, the file is written the way an older kimi-repl did, with that key (:mod:`tests.old_format`).
    """
    session = Session(fresh_conversation())
    log: Log
    if old_key is None:
        log = SessionStore(folder, secret=None, write=write).new_log(session.conversation)
    else:
        log = OldSessionLog(folder / f"{ID}.jsonl", session.conversation, key=old_key)
    history = History([])
    for operation in ops:
        try:
            if not apply(session, log, operation):
                continue
        except TranscriptError:
            pass
        history.record(log, session, operation)
    return log, session, history


def check_every_cut(data: bytes, history: History, *, key: str | None = None) -> None:
    """Cut at every byte after the last rewrite (a crash), ``data`` loads the state of the last write that was whole."""
    for cut in range(history.floor, len(data) + 1):
        expected = expected_at(history.writes, cut)
        if expected is None:  # torn inside the first write: nothing, or an empty session (-c passes over it)
            try:
                early = replay(data[:cut], "cut", name=ID, key=key)
            except TranscriptError:
                continue
            assert not early.conversation.turns and not early.pending
            continue
        result = replay(data[:cut], "cut", name=ID, key=key)
        assert State.loaded(result.conversation, result.pending) == expected, f"cut at byte {cut}"


def expected_at(history: list[tuple[int, State]], cut: int) -> State | None:
    """The state of the last write that was whole at ``cut`` (None: not even the first).

    A write is whole once its last record's closing brace is there: only its newline may be missing.
    """
    found = None
    for size, state in history:
        if size - 1 <= cut:
            found = state
    return found


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_a_crash_at_any_byte_loads_the_last_whole_state(tmp_path: Path, ops: list[Operation]) -> None:
    folder = tmp_path / f"s{os.urandom(4).hex()}"
    folder.mkdir()
    log, session, history = write_history(folder, ops)
    if not history.writes:
        return
    data = log.path.read_bytes()
    log.close()
    whole = replay(data, "whole")
    assert State.loaded(whole.conversation, whole.pending) == State.of(session)
    check_every_cut(data, history)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations, key=st.sampled_from(OLD_KEYS))
def test_an_old_file_mangled_by_a_short_key_loads_at_any_byte_once_repaired(
    tmp_path: Path, ops: list[Operation], key: str
) -> None:
    folder = tmp_path / f"s{os.urandom(4).hex()}"
    folder.mkdir()
    log, session, history = write_history(folder, ops, old_key=key)
    if not history.writes:
        return
    data = log.path.read_bytes()
    assert key.encode() not in data.replace(REDACTED.encode(), b"")  # the old bug: the key is nowhere else
    known = None if key in ID else key  # a key in the id is given away by the file's name; others must be known
    whole = replay(data, "whole", name=ID, key=known)
    assert State.loaded(whole.conversation, whole.pending) == State.of(session)
    check_every_cut(data, history, key=known)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations, more=operations, where=st.floats(0, 1))
def test_after_a_crash_the_session_resumes_and_new_lines_never_follow_damage(
    tmp_path: Path, ops: list[Operation], more: list[Operation], where: float
) -> None:
    resume_after_a_crash(tmp_path, ops, more, where, None)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations, more=operations, where=st.floats(0, 1), key=st.sampled_from(OLD_KEYS))
def test_an_old_file_resumed_after_a_crash_is_rewritten_repaired_and_carries_on(
    tmp_path: Path, ops: list[Operation], more: list[Operation], where: float, key: str
) -> None:
    resume_after_a_crash(tmp_path, ops, more, where, key)


def resume_after_a_crash(
    tmp_path: Path, ops: list[Operation], more: list[Operation], where: float, key: str | None
) -> None:
    """Write ``ops`` (the old way with ``key``), crash at ``where``, resume, do ``more``, crash at any byte."""
    folder = tmp_path / f"s{os.urandom(4).hex()}"
    folder.mkdir()
    log, _, history = write_history(folder, ops, old_key=key)
    if not history.writes:
        return
    data = log.path.read_bytes()
    log.close()
    first = max(history.floor, history.writes[0][0])
    cut = first + int(where * (len(data) - first))
    log.path.write_bytes(data[:cut])  # the crash
    before = expected_at(history.writes, cut)
    assert before is not None

    store = SessionStore(folder, secret=None if key is None or key in ID else key)  # (as for a cut, above)
    resumed = store.resume(log.path)
    assert resumed.log is not None
    assert State.loaded(resumed.conversation, resumed.pending) == before
    if key is not None:  # rewritten at once: the current format, the marker gone with the key put back
        rewritten = log.path.read_bytes()
        assert b'"version": %d' % SESSION_VERSION in rewritten.split(b"\n", 1)[0]
        assert REDACTED.encode() not in rewritten
    session = Session(resumed.conversation, resumed.pending)
    if resumed.pending:  # back to the prompt, and the file says so (as Chat.resume does)
        resumed.log.withdraw(resumed.pending)
    after = History([(log.path.stat().st_size, State.of(session))], floor=log.path.stat().st_size)
    for operation in more:
        whole = resumed.log.dirty  # a last line without its newline: the next write rewrites the file whole
        try:
            if not apply(session, resumed.log, operation):
                continue
        except TranscriptError:
            pass
        after.record(resumed.log, session, ("rewrite", "") if whole else operation)
    assert State.loaded(*load_file(log.path)) == State.of(session)
    check_every_cut(log.path.read_bytes(), after)
    resumed.log.close()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations, failing=st.integers(0, 30), outage=st.integers(1, 4), written=st.floats(0, 1))
def test_a_full_disk_at_any_write_loses_nothing_once_writing_works(
    tmp_path: Path, ops: list[Operation], failing: int, outage: int, written: float
) -> None:
    folder = tmp_path / f"s{os.urandom(4).hex()}"
    folder.mkdir()
    calls = [0]
    failures: list[int] = []

    def full_disk(fd: int, data: bytes) -> None:
        calls[0] += 1
        if failing < calls[0] <= failing + outage:
            failures.append(calls[0])
            os.write(fd, data[: int(len(data) * written)])  # part of it got out before the disk was full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        write_all(fd, data)

    session = Session(fresh_conversation())
    log = SessionStore(folder, secret=None, write=full_disk).new_log(session.conversation)
    reported = 0
    for operation in ops:
        try:
            apply(session, log, operation)
        except TranscriptError as error:
            reported += 1
            assert "No space left on device" in str(error)  # reported by the write that failed
            if log.path.exists():  # and the file was put back as it was: it loads
                load_file(log.path)
    if log.dirty:
        log.save_whole()  # what the next write (or leaving) does once the disk has room
    assert reported >= 1 if failures else reported == 0
    if log.path.exists():
        assert State.loaded(*load_file(log.path)) == State.of(session)
    log.close()


def test_a_second_process_cannot_write_a_session_that_is_open(tmp_path: Path) -> None:
    store = SessionStore(tmp_path, secret=None)
    conversation = fresh_conversation()
    first = store.new_log(conversation)
    first.turn(conversation.add_user("one"))
    second = SessionStore(tmp_path, secret=None).resume(first.path)
    assert second.log is None and second.busy is not None and second.busy.pid == os.getpid()
    assert second.pending == "one"
    first.close()
    third = SessionStore(tmp_path, secret=None).resume(first.path)
    assert third.log is not None  # free again once the first let go
    third.log.close()


def test_damage_in_the_middle_is_kept_aside_before_the_file_is_cut(tmp_path: Path) -> None:
    store = SessionStore(tmp_path, secret=None)
    conversation = fresh_conversation()
    log = store.new_log(conversation)
    for text in ("one", "two"):
        log.turn(conversation.add_user(text))
        reply = Turn(role="assistant", content=f"re {text}")
        conversation.add_reply(reply)
        log.turn(reply)
    log.close()
    lines = log.path.read_bytes().split(b"\n")
    damaged = b"\n".join([*lines[:4], b"{oops", *lines[4:]])
    log.path.write_bytes(damaged)
    resumed = store.resume(log.path)
    assert resumed.log is not None and any("damaged at line 5" in note for note in resumed.notes)
    assert [t.content for t in resumed.conversation.turns] == ["one", "re one"]
    assert log.path.with_suffix(".damaged").read_bytes() == damaged
    resumed.log.close()


def test_session_files_are_private(tmp_path: Path) -> None:
    conversation = fresh_conversation()
    log = SessionStore(tmp_path, secret=None).new_log(conversation)
    log.turn(conversation.add_user("x"))
    log.dirty = True
    log.save_whole()
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    log.close()


def test_replay_never_breaks_alternation_whatever_the_file_says(tmp_path: Path) -> None:
    header = b'{"event": "session", "format": "kimi-repl-session", "version": 2, "id": "x", "created": 1}\n'
    settings_line = b'{"event": "settings", "model": "kimi-k2.6"}\n'

    def turn(role: str, content: str) -> bytes:
        return b'{"event": "turn", "role": "%s", "content": "%s"}\n' % (role.encode(), content.encode())

    data = header + settings_line + turn("assistant", "orphan") + turn("user", "a") + turn("user", "b")
    data += turn("assistant", "r1") + turn("assistant", "r2") + b'{"event": "undo", "turns": 99}\n'
    data += turn("user", "c") + turn("assistant", "d") + b'{"event": "context", "context_start": 7}\n'
    result = replay(data, "t")
    assert [(t.role, t.content) for t in result.conversation.turns] == [("user", "c"), ("assistant", "d")]
    assert result.conversation.context_start == 2


def test_a_second_process_reads_an_old_file_it_cannot_lock_repaired_and_leaves_it_alone(tmp_path: Path) -> None:
    log, session, _ = write_history(tmp_path, [("send", "1"), ("reply", "1"), ("send", "x")], old_key="1")
    data = log.path.read_bytes()
    holder = SessionLock(log.path)  # another kimi-repl has it
    try:
        resumed = SessionStore(tmp_path, secret=None).resume(log.path)
        assert resumed.log is None and resumed.busy is not None
        assert State.loaded(resumed.conversation, resumed.pending) == State.of(session)
        assert log.path.read_bytes() == data
    finally:
        holder.release()


def test_a_lock_taken_as_its_holder_lets_go_is_never_held_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kimi_repl.sessions import writer

    path = tmp_path / "s.jsonl"
    first = SessionLock(path)
    real = writer._try_lock
    calls = [0]

    def let_go_first(fd: int) -> None:
        calls[0] += 1
        if calls[0] == 1:
            first.release()  # the holder removes the lock file between this open and this lock
        real(fd)

    monkeypatch.setattr(writer, "_try_lock", let_go_first)
    second = SessionLock(path)
    monkeypatch.setattr(writer, "_try_lock", real)
    with pytest.raises(SessionBusy):
        SessionLock(path)  # a third copy finds the second's lock, not a fresh file of its own
    second.release()
