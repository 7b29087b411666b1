"""Features that meet, driven at random: a hypothesis state machine against the fake server (today's lineup).

Random sequences of messages (short, long, failed, cut, interrupted at any line), pictures, documents, model
switches to models of every kind (thinking switchable or always, text-only, vision, a small window, one the
server does not know), /retry with and without a model, /continue, /undo, /thinking, /web, /role, /compact
and resuming from the session file. After every step: each request was one its model accepts (the fake
refuses what Moonshot refuses), no finished turn was lost or changed but by the step that may change it,
turns alternate, and the session file loads to the same conversation.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from kimi_repl.commands import build_registry
from kimi_repl.commands.context import CommandContext
from kimi_repl.config import Settings
from kimi_repl.configfile import Role
from kimi_repl.errors import UserError
from kimi_repl.sessions import SessionStore, load_file
from tests.fake import TEST_KEY, FakeMoonshot, Script
from tests.helpers import CapturedDisplay, InterruptAt, png_bytes, traced

MODELS = [
    "kimi-k2.6",  # thinking switchable, pictures
    "kimi-k2.7-code",  # always thinks, pictures
    "kimi-k3",  # always thinks, no pictures, a huge window
    "moonshot-v1-8k",  # text only, a small window
    "moonshot-v1-8k-vision-preview",  # pictures, a small window
    "moonshot-v1-128k",  # text only
    "kimi-k9-preview",  # not a model the server has
]


Snapshot = list[tuple[str, str, bool]]


def snapshot(session: CommandContext) -> Snapshot:
    return [(turn.role, turn.content, turn.unfinished) for turn in session.chat.conversation.turns]


class ChatMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.server = FakeMoonshot().start()
        self.folder = Path(tempfile.mkdtemp(prefix="kimi-machine-"))
        (self.folder / "sessions").mkdir(mode=0o700)
        self.picture = self.folder / "cat.png"
        self.picture.write_bytes(png_bytes())
        self.notes = self.folder / "notes.txt"
        self.notes.write_text("Meeting notes: ship on Friday. " * 40)
        roles = {"coder": Role("coder", system="You write code.", model="kimi-k2.7-code", temperature=None)}
        self.settings = Settings(
            api_key=TEST_KEY, base_url=self.server.base_url, timeout=10.0, max_retries=0, roles=roles
        )
        self.store = SessionStore(self.folder / "sessions", secret=None)
        self.registry = build_registry()
        self.session = self._new_session()
        self.before: Snapshot = []

    def _new_session(self) -> CommandContext:
        session = CommandContext.open(self.settings, CapturedDisplay(), store=self.store)
        session.state.confirm = lambda question: True
        return session

    def teardown(self) -> None:
        self.session.chat.close()
        self.server.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def command(self, line: str) -> None:
        with contextlib.suppress(UserError):  # refused in one line: nothing changed
            self.registry.dispatch(self.session, line)

    @property
    def last_reply_unfinished(self) -> bool:
        turns = self.session.chat.conversation.turns
        return bool(turns) and turns[-1].unfinished

    # -- the steps ---------------------------------------------------------------------------------
    @rule(text=st.sampled_from(["hi", "你好", "explain this", "a longer question about it"]), long=st.booleans())
    def send(self, text: str, long: bool) -> None:
        self.before = snapshot(self.session)
        if long:
            self.server.script(Script(text="word " * 1800))
        self.session.chat.send(text)
        self.server.scripts.clear()  # not taken if the message was refused before sending
        self.session.state.take_pending_input()
        after = snapshot(self.session)
        assert after[: len(self.before)] == self.before
        assert len(after) in (len(self.before), len(self.before) + 2)

    @rule(status=st.sampled_from([500, 429, 400]))
    def send_and_fail(self, status: int) -> None:
        self.before = snapshot(self.session)
        self.server.script(Script(status=status, times=5))
        self.session.chat.send("this one fails")
        self.server.scripts.clear()
        assert snapshot(self.session) == self.before
        self.session.state.take_pending_input()

    @rule(cut=st.sampled_from(["length", "incomplete"]))
    def send_and_cut(self, cut: str) -> None:
        self.before = snapshot(self.session)
        if cut == "length":
            self.server.script(Script(text="This answer stops in the middle of", finish_reason="length"))
        else:
            self.server.script(Script(text="This answer drops in the middle of a", cut_after=3))
        self.session.chat.send("tell me more")
        self.server.scripts.clear()
        self.session.state.take_pending_input()
        after = snapshot(self.session)
        assert after[: len(self.before)] == self.before

    @rule(at=st.integers(1, 2500))
    def send_and_interrupt(self, at: int) -> None:
        self.before = snapshot(self.session)
        self.server.script(Script(text="An answer in a few pieces. " * 4, chunk_chars=10))
        traced(lambda: self.session.chat.send("interrupt me"), InterruptAt(at))
        self.server.scripts.clear()
        self.session.state.take_pending_input()
        after = snapshot(self.session)
        assert after[: len(self.before)] == self.before

    @rule()
    def attach_picture(self) -> None:
        self.command(f"/image {self.picture}")

    @rule(clear=st.booleans())
    def document(self, clear: bool) -> None:
        self.command("/file clear" if clear else f"/file {self.notes}")

    @rule(model=st.sampled_from(MODELS))
    def switch_model(self, model: str) -> None:
        self.before = snapshot(self.session)
        self.command(f"/model {model}")
        assert snapshot(self.session) == self.before

    @precondition(lambda self: bool(self.session.chat.conversation.turns))
    @rule(model=st.none() | st.sampled_from(MODELS), interrupt=st.none() | st.integers(1, 2500))
    def retry(self, model: str | None, interrupt: int | None) -> None:
        self.before = snapshot(self.session)

        def action() -> None:
            self.command(f"/retry {model}" if model else "/retry")

        if interrupt is None:
            action()
        else:
            traced(action, InterruptAt(interrupt))
        self.server.scripts.clear()
        after = snapshot(self.session)
        assert after[:-1] == self.before[:-1]
        if not self.before[-1][2]:  # a finished reply is replaced only by a finished one
            assert not after[-1][2]

    @precondition(lambda self: self.last_reply_unfinished)
    @rule()
    def continue_reply(self) -> None:
        self.before = snapshot(self.session)
        self.command("/continue")
        after = snapshot(self.session)
        assert after[:-1] == self.before[:-1]
        assert after[-1][1].startswith(self.before[-1][1])

    @rule()
    def undo(self) -> None:
        self.before = snapshot(self.session)
        self.command("/undo")
        after = snapshot(self.session)
        assert after == self.before[: len(after)] and len(self.before) - len(after) in (0, 1, 2)

    @rule(word=st.sampled_from(["on", "off"]))
    def thinking(self, word: str) -> None:
        self.command(f"/thinking {word}")

    @rule(word=st.sampled_from(["on", "off"]))
    def web(self, word: str) -> None:
        self.command(f"/web {word}")

    @rule(name=st.sampled_from(["coder", "clear"]))
    def role(self, name: str) -> None:
        self.command(f"/role {name}")

    @rule(off=st.booleans())
    def compact(self, off: bool) -> None:
        self.before = snapshot(self.session)
        self.command("/compact off" if off else "/compact")
        assert snapshot(self.session) == self.before

    @precondition(
        lambda self: (
            self.session.chat.log is not None and self.session.chat.log.started and self.session.chat.conversation.turns
        )
    )  # a session left with no turn is not kept (its file goes when it closes)
    @rule()
    def resume(self) -> None:
        self.before = snapshot(self.session)
        log = self.session.chat.log
        assert log is not None
        path, model = log.path, self.session.chat.conversation.model
        self.session.chat.close()
        self.session = self._new_session()
        self.session.chat.resume(path)
        self.session.state.take_pending_input()
        assert [(r, c) for r, c, _ in snapshot(self.session)] == [(r, c) for r, c, _ in self.before]
        assert self.session.chat.conversation.model == model

    @precondition(lambda self: bool(self.session.chat.conversation.turns))
    @rule(at=st.integers(0, 20), fork=st.booleans())
    def branch(self, at: int, fork: bool) -> None:
        """/rewind to one of the user's messages, or /fork: the conversation goes on in a new session, and the one
        left still loads with every turn it had."""
        self.before = snapshot(self.session)
        log = self.session.chat.log
        parent = log.path if log is not None and log.started and not log.dirty else None
        users = [n for n, turn in enumerate(self.session.chat.conversation.turns) if turn.role == "user"]
        index = users[at % len(users)]
        self.command("/fork" if fork else f"/rewind {index + 1}")
        after = snapshot(self.session)
        if fork:
            assert after == self.before
        else:
            assert after == self.before[:index] and self.session.state.prefill == self.before[index][1]
            self.session.state.prefill = None
        if parent is not None:
            kept, _ = load_file(parent)
            assert [(t.role, t.content) for t in kept.turns] == [(r, c) for r, c, _ in self.before]

    # -- after every step --------------------------------------------------------------------------
    @invariant()
    def every_request_was_accepted(self) -> None:
        assert self.server.refused == [], self.server.refused
        assert self.server.errors == []

    @invariant()
    def turns_alternate(self) -> None:
        roles = [turn.role for turn in self.session.chat.conversation.turns]
        assert roles == ["user", "assistant"] * (len(roles) // 2)

    @invariant()
    def the_file_loads_to_the_same_conversation(self) -> None:
        log = self.session.chat.log
        if log is None or not log.started or log.dirty:
            return
        loaded, _ = load_file(log.path)
        mine = self.session.chat.conversation
        assert [(t.role, t.content) for t in loaded.turns] == [(t.role, t.content) for t in mine.turns]
        assert (loaded.model, loaded.system, loaded.thinking, loaded.web) == (
            mine.model,
            mine.system,
            mine.thinking,
            mine.web,
        )
        assert loaded.context_start == mine.context_start
        assert [d.content for d in loaded.documents] == [d.content for d in mine.documents]


TestChatMachine = ChatMachine.TestCase
TestChatMachine.settings = settings(
    max_examples=80,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# 80 random sequences take about 20 s here and three times that on a slow CI machine: the whole run is one test.
TestChatMachine.pytestmark = [pytest.mark.timeout(900)]  # type: ignore[attr-defined]


def test_the_machine_runs_against_the_small_window_too(isolated_user: Path) -> None:
    """A sanity run: one fixed sequence on the smallest window, so the machine's rules stay runnable."""
    machine = ChatMachine()
    try:
        machine.switch_model("moonshot-v1-8k")
        for n in range(4):
            machine.send(f"q{n}", True)
        machine.switch_model("kimi-k2.6")
        machine.send("big again", False)
        machine.every_request_was_accepted()
        machine.the_file_loads_to_the_same_conversation()
        assert replace(machine.settings, roles={}).max_retries == 0
    finally:
        machine.teardown()
