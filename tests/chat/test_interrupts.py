"""Ctrl-C at every step of a turn: the conversation stays consistent, its file loads back to it, and the next
message goes through.

A tracer raises KeyboardInterrupt at the N-th line kimi-repl runs during one turn, for every N, as the real
SIGINT handler would: at once where an interrupt may land, noted for later inside a held section.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kimi_repl import interrupts
from kimi_repl.commands.context import CommandContext
from kimi_repl.config import Settings
from kimi_repl.conversation import Conversation, Turn
from kimi_repl.sessions import SessionStore, load_file
from tests.fake import FakeMoonshot, Script
from tests.helpers import CapturedDisplay, InterruptAt, Location, traced


def steps(action: Callable[[], object], *, every: int) -> list[int]:
    """The moments to interrupt ``action`` at: the first time each line of kimi-repl runs in it (every step of
    it), and every ``every``-th line besides (later rounds of its loops: more of the reply has arrived)."""
    recorder = InterruptAt()
    assert not traced(action, recorder)
    seen: set[Location] = set()
    chosen = []
    for index, where in enumerate(recorder.lines, 1):
        if where not in seen or index % every == 0:
            chosen.append(index)
            seen.add(where)
    return chosen


def roles(turns: list[Turn]) -> list[str]:
    return [turn.role for turn in turns]


def check(session: CommandContext, before: list[Turn], server: FakeMoonshot) -> None:
    """Nothing finished lost, turns alternate, the file says the same, and the session goes on."""
    turns = session.chat.conversation.turns
    assert roles(turns) == ["user", "assistant"] * (len(turns) // 2)
    assert [t.content for t in turns[: len(before)]] == [t.content for t in before]
    assert session.chat.log is not None
    session.chat.flush()
    if session.chat.log.started:
        loaded, pending = load_file(session.chat.log.path)
        assert [(t.role, t.content) for t in loaded.turns] == [(t.role, t.content) for t in turns]
        assert pending in ("", session.state.pending_input)
    server.scripts.clear()
    reply = session.chat.send("and after that?")
    assert reply is not None and reply.content.startswith("Echo")
    session.chat.close()  # its lock's file descriptor goes: hundreds of sessions must not use them all up


def new_session(settings: Settings, tmp_path: Path, n: int, *, terminal: bool, client: Any = None) -> CommandContext:
    folder = tmp_path / f"sessions-{n}"
    folder.mkdir(mode=0o700)
    store = SessionStore(folder, secret=None)
    return CommandContext.open(settings, CapturedDisplay(terminal=terminal), client, store=store)


def with_one_exchange(session: CommandContext) -> list[Turn]:
    """The session with one finished exchange, saved: what an interrupt must not lose."""
    first = Conversation(model=session.chat.model)
    first.add_user("first")
    first.add_reply(Turn(role="assistant", content="Echo 1: first", model=session.chat.model, finish_reason="stop"))
    session.chat.adopt(first)
    return list(session.chat.conversation.turns)


REPLY = "Hello there,\n\nfriend: **this** is a reply\n\n- of a few\n- blocks\n"


@pytest.mark.parametrize("terminal", [False, True])
def test_ctrl_c_at_every_step_of_a_turn_loses_nothing_and_wedges_nothing(
    settings: Settings, server: FakeMoonshot, tmp_path: Path, terminal: bool
) -> None:
    warm = new_session(settings, tmp_path, 0, terminal=terminal)
    warm.chat.send("warm up")  # the SDK, the models list and the renderer load once, not inside a measured turn

    def turn(session: CommandContext) -> Callable[[], object]:
        server.script(Script(text=REPLY, chunk_chars=8))
        return lambda: session.chat.send("a question")

    moments = steps(turn(warm), every=40)
    assert len(moments) > 300
    outcomes = {"kept": 0, "interrupted": 0, "withdrawn": 0}
    for at in moments:
        session = new_session(settings, tmp_path, at, terminal=terminal, client=warm.chat.client)
        before = with_one_exchange(session)
        escaped = traced(turn(session), InterruptAt(at))
        last = session.chat.conversation.turns[-1]
        if len(session.chat.conversation.turns) == len(before):
            outcomes["withdrawn"] += 1
            # given back for the prompt, or stopped before it was taken (the prompt's history has it)
            assert session.state.pending_input == "a question" or escaped, at
        elif last.interrupted:
            outcomes["interrupted"] += 1
        else:
            outcomes["kept"] += 1
            assert last.content == REPLY, at
        check(session, before, server)
        assert signal.getsignal(signal.SIGINT) in (signal.default_int_handler, interrupts._on_sigint)
    assert all(outcomes.values()), outcomes


def test_ctrl_c_at_every_step_of_a_retry_keeps_the_finished_reply(
    settings: Settings, server: FakeMoonshot, tmp_path: Path
) -> None:
    warm = new_session(settings, tmp_path, 0, terminal=True)
    with_one_exchange(warm)

    def retry(session: CommandContext) -> Callable[[], object]:
        server.script(Script(text=REPLY, chunk_chars=8))
        return lambda: session.chat.retry()

    for at in steps(retry(warm), every=40):
        session = new_session(settings, tmp_path, at, terminal=True, client=warm.chat.client)
        before = with_one_exchange(session)
        traced(retry(session), InterruptAt(at))
        reply = session.chat.conversation.turns[-1]
        assert reply.content in (before[-1].content, REPLY) and not reply.unfinished, at
        check(session, before[:-1], server)


def test_held_sections_raise_a_noted_interrupt_when_they_end() -> None:
    with pytest.raises(KeyboardInterrupt), interrupts.held():
        interrupts.deliver()  # noted, not raised
        noted = True
    assert noted
    with interrupts.held(then_raise=False):
        interrupts.deliver()
    with pytest.raises(KeyboardInterrupt), interrupts.held():
        interrupts.deliver()
        with interrupts.allowed():  # a noted interrupt is raised where one may land
            pytest.fail("not reached")
    assert interrupts.may_raise()


def test_another_thread_holding_never_swallows_the_main_threads_interrupt() -> None:
    """Only the main thread gets signals: a background thread's held block (the warm-up taking a lock) must not
    make the main thread's Ctrl-C wait, nor take it."""
    import threading

    inside, leave = threading.Event(), threading.Event()

    def background() -> None:
        with interrupts.held():
            inside.set()
            leave.wait(5)

    thread = threading.Thread(target=background)
    thread.start()
    inside.wait(5)
    with pytest.raises(KeyboardInterrupt), interrupts.held(), interrupts.allowed():
        interrupts.deliver()
    leave.set()
    thread.join()
    assert interrupts.may_raise()


def test_a_second_ctrl_c_while_an_interrupted_reply_is_drawn_does_not_claim_the_whole_reply() -> None:
    """The first Ctrl-C stops the stream; a second one while the partial reply is drawn only stops the drawing:
    the round says interrupted (what it is), not "drawing stopped, the whole reply kept"."""
    import io

    from kimi_repl.chat.replier import stream_round
    from kimi_repl.client import ContentDelta
    from kimi_repl.views import PlainReplyView

    def events() -> Any:
        yield ContentDelta("tok0 ")
        yield ContentDelta("tok1 ")
        raise KeyboardInterrupt

    class ClosedByCtrlC(PlainReplyView):
        def close(self) -> None:
            raise KeyboardInterrupt

    result = stream_round(events, ClosedByCtrlC(io.StringIO()), gone=lambda: False)
    assert result.interrupted and not result.drawing_cut and result.content == "tok0 tok1 "
