"""The chat core decides and reports typed outcomes; the narrator alone words them; tools plug in."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from kimi_repl.chat import Chat
from kimi_repl.chat.outcomes import (
    Calling,
    MessageReturned,
    Outcome,
    ReplyEnded,
    SendFailed,
    ServerFailed,
    ThoughtAway,
)
from kimi_repl.chat.replier import Replier
from kimi_repl.chat.tools import ToolCall
from kimi_repl.client import ContentDelta, Finished, StreamEvent, ToolCallDelta
from kimi_repl.config import Settings
from kimi_repl.conversation import Conversation, InForce, Turn
from kimi_repl.narrator import Narrator
from kimi_repl.planner import after_refusal, plan
from kimi_repl.profile import profile_for
from kimi_repl.request import ChatRequest
from kimi_repl.views import PlainReplyView
from tests.fake import FakeMoonshot, Script
from tests.helpers import CapturedDisplay


def test_the_core_imports_nothing_of_the_terminal_side() -> None:
    probe = (
        "import sys\n"
        "import kimi_repl.chat, kimi_repl.catalog, kimi_repl.planner\n"
        "shell = ('kimi_repl.display', 'kimi_repl.render', 'kimi_repl.repl', 'kimi_repl.commands', "
        "'kimi_repl.narrator', 'kimi_repl.markdown', 'rich', 'prompt_toolkit')\n"
        "print(','.join(m for m in shell if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_a_failed_send_is_reported_as_outcomes_and_nothing_is_worded_without_a_narrator(
    settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    chat = Chat(settings, display)
    told: list[Outcome] = []
    chat.observers.append(told.append)
    server.script(Script(status=500, times=3))
    assert chat.send("hello") is None
    returned, failed = told
    assert returned == MessageReturned("hello")
    assert isinstance(failed, SendFailed) and isinstance(failed.why, ServerFailed)
    assert display.output == ""  # the core never writes a sentence
    assert chat.conversation.turns == []


def test_a_reply_that_arrived_is_reported_with_its_profile(
    settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    chat = Chat(settings, display)
    told: list[Outcome] = []
    chat.observers.append(told.append)
    reply = chat.send("hello")
    ended = [outcome for outcome in told if isinstance(outcome, ReplyEnded)]
    assert reply is not None and len(ended) == 1 and ended[0].turn is reply
    assert ended[0].profile.id == reply.model and ended[0].failure is None


def test_the_narrator_words_a_failure_for_the_prompt_or_for_the_shell() -> None:
    why = ThoughtAway("kimi-k2.6", 1_000)
    at_prompt = Narrator(CapturedDisplay()).why(why)
    one_shot = Narrator(CapturedDisplay(), interactive=False).why(why)
    assert at_prompt.endswith("turn thinking off with /thinking off.")
    assert one_shot.endswith("turn thinking off with --thinking off.")
    shown = CapturedDisplay()
    Narrator(shown)(SendFailed(why))
    assert "↑ brings your message back." in shown.output
    quiet = CapturedDisplay()
    Narrator(quiet, interactive=False)(SendFailed(why))
    assert "↑" not in quiet.output and "1,000 tokens" in quiet.output


class Lookup:
    """A tool of the test's own: it answers every call with a fixed text."""

    name = "lookup"

    def declaration(self) -> Mapping[str, Any]:
        return {"type": "function", "function": {"name": self.name}}

    def answer(self, call: ToolCall) -> dict[str, Any]:
        return {"role": "tool", "tool_call_id": call.id, "name": call.name, "content": "forty-two"}

    def running(self, call: ToolCall) -> Calling:
        return Calling(self.name, call.arguments)

    def record(self, call: ToolCall) -> dict[str, str] | None:
        return None


class Scripted:
    """A client whose streams are given in advance; it keeps the requests it got."""

    def __init__(self, *rounds: list[StreamEvent]) -> None:
        self.rounds = list(rounds)
        self.requests: list[ChatRequest] = []

    def stream_chat(self, request: ChatRequest, *, pause: object = None) -> Iterator[StreamEvent]:
        self.requests.append(request)
        yield from self.rounds.pop(0)


class Screen:
    gone = False

    def reply(self, *, model: str = "", resume: str = "") -> PlainReplyView:
        return PlainReplyView(io.StringIO())


def test_a_new_tool_plugs_into_the_replier_without_touching_the_core() -> None:
    client = Scripted(
        [ToolCallDelta(0, "call-1", "function", "lookup", '{"q": "answer"}'), Finished("tool_calls", None)],
        [ContentDelta("It is forty-two."), Finished("stop", {"prompt_tokens": 9, "completion_tokens": 4})],
    )
    told: list[Outcome] = []
    replier = Replier(client, Screen(), tools=[Lookup()], tell=told.append, cap=4096)
    request = ChatRequest("kimi-k2.6", [{"role": "user", "content": "?"}], 4096, tools=replier.declarations())
    turn = replier.reply(request, profile_for("kimi-k2.6"), InForce("kimi-k2.6"))
    assert turn.content == "It is forty-two." and turn.searches == []
    assert told[0] == Calling("lookup", '{"q": "answer"}')
    answered = client.requests[-1].messages
    assert answered[-1] == {"role": "tool", "tool_call_id": "call-1", "name": "lookup", "content": "forty-two"}
    assert answered[-2]["tool_calls"][0]["function"]["name"] == "lookup"


def test_after_a_refusal_the_planner_says_when_nothing_more_can_be_left_out() -> None:
    conversation = Conversation("moonshot-v1-8k")
    conversation.add_user("the only message")
    profile = profile_for("moonshot-v1-8k")
    planned = plan(conversation, conversation.turns, profile)
    assert after_refusal(conversation, conversation.turns, profile, planned, counted=None, window=8192) is None
    conversation.turns.clear()
    for n in range(6):
        conversation.add_user(f"q{n}")
        conversation.add_reply(Turn(role="assistant", content="a" * 2000))
    conversation.add_user("last")
    planned = plan(conversation, conversation.turns, profile)
    tighter = after_refusal(conversation, conversation.turns, profile, planned, counted=9000, window=8192)
    assert tighter is not None and tighter.start > planned.start
    assert conversation.context_start == 0  # the planner never changes the conversation
