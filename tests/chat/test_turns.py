"""A chat session against the fake server: multi-turn history, interruptions, failures keep it alternating."""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import replace

from kimi_repl.commands.context import CommandContext
from kimi_repl.config import Settings
from tests.fake import FakeMoonshot, Script
from tests.helpers import CapturedDisplay


def roles(session: CommandContext) -> list[str]:
    return [turn.role for turn in session.chat.conversation.turns]


def test_every_turn_sends_the_system_prompt_then_the_whole_conversation(
    session: CommandContext, server: FakeMoonshot
) -> None:
    session.chat.choose(system="Be brief.")
    session.chat.send("first")
    session.chat.send("second")
    sent = server.chat_requests()[-1]["messages"]
    assert sent == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "Echo 1: first"},
        {"role": "user", "content": "second"},
    ]
    assert roles(session) == ["user", "assistant", "user", "assistant"]


def test_reply_is_recorded_with_model_usage_and_finish_reason(session: CommandContext, server: FakeMoonshot) -> None:
    turn = session.chat.send("hello")
    assert turn is not None
    assert (turn.model, turn.finish_reason, turn.interrupted, turn.incomplete) == ("kimi-k2.6", "stop", False, False)
    assert turn.usage is not None and turn.usage.total > 0
    assert turn.reasoning_content  # kimi-k2.6 thinks unless told not to


def test_failed_request_withdraws_the_user_turn_and_keeps_its_text(
    session: CommandContext, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session.chat.send("one")
    server.script(Script(status=500, times=3))
    assert session.chat.send("two") is None
    assert roles(session) == ["user", "assistant"]
    assert session.state.take_pending_input() == "two"
    assert "server error (500)" in display.output
    assert session.chat.send("two again") is not None
    assert roles(session) == ["user", "assistant", "user", "assistant"]


def test_cut_stream_keeps_the_partial_reply_marked_incomplete(
    session: CommandContext, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    server.script(Script(text="abcdefghijkl", chunk_chars=3, cut_after=2))
    turn = session.chat.send("hi")
    assert turn is not None and turn.content == "abcdef" and turn.incomplete and turn.finish_reason is None
    assert "without a finish reason" in display.output


def test_dropped_connection_keeps_the_partial_reply_marked_incomplete(
    session: CommandContext, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    server.script(Script(text="abcdefghijkl", chunk_chars=3, cut_after=2, abrupt=True))
    turn = session.chat.send("hi")
    assert turn is not None and turn.content == "abcdef" and turn.incomplete
    assert "connection broke" in display.output and "incomplete" in display.output


def test_length_finish_reason_is_reported(
    session: CommandContext, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    server.script(Script(text="long answer", finish_reason="length"))
    turn = session.chat.send("hi")
    assert turn is not None and turn.finish_reason == "length" and not turn.incomplete
    assert "cut short" in display.output and "/continue" in display.output


def interrupt_after(seconds: float) -> threading.Timer:
    """Deliver Ctrl-C (SIGINT) to this process after ``seconds``, as a terminal would."""
    timer = threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    return timer


def test_ctrl_c_keeps_partial_reply_marked_interrupted(
    session: CommandContext, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session.chat.choose(thinking=False)  # the answer starts at once
    session.chat.send("warm up")  # the SDK is imported on first use; keep that out of the timing
    server.script(Script(text="x" * 400, chunk_chars=2, delay=0.02))
    interrupt_after(0.6)
    turn = session.chat.send("long please")
    assert turn is not None and turn.interrupted and not turn.incomplete
    assert 0 < len(turn.content) < 400
    assert "Interrupted" in display.output
    assert roles(session) == ["user", "assistant"] * 2
    session.chat.send("after")
    assert server.chat_requests()[-1]["messages"][-2] == {"role": "assistant", "content": turn.content}


def test_ctrl_c_before_the_reply_begins_withdraws_the_message(
    session: CommandContext, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session.chat.send("warm up")
    server.script(Script(text="late", first_byte_delay=2))
    interrupt_after(0.3)
    assert session.chat.send("never answered") is None
    assert roles(session) == ["user", "assistant"]
    assert session.state.take_pending_input() == "never answered"


def test_unknown_model_is_one_line_naming_current_models_and_nothing_dangles(
    settings: Settings, display: CapturedDisplay
) -> None:
    session = CommandContext.open(replace(settings, model="kimi-k2-turbo-preview"), display)
    assert session.chat.send("hi") is None
    assert session.chat.conversation.turns == []
    line = display.output.strip()
    assert "\n" not in line and "no model 'kimi-k2-turbo-preview' (404" in line
    assert "Current models: kimi-k2.6, kimi-k2.5, kimi-k2.7-code," in line  # the closest first


def test_thinking_model_records_reasoning_and_gets_no_temperature(
    settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session = CommandContext.open(replace(settings, model="kimi-k2.7-code", temperature=0.2), display)
    server.script(Script(reasoning="Let me see.", text="42"))
    turn = session.chat.send("meaning?")
    assert turn is not None and turn.reasoning_content == "Let me see." and turn.content == "42"
    assert "temperature" not in server.chat_requests()[-1]
    assert "thinking" not in server.chat_requests()[-1]  # it always thinks: no switch is sent
    assert "refuses any other, so none is sent" in session.describe_temperature()
