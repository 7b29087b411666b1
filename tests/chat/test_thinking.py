"""Thinking models: the reasoning shown or collapsed, kept but not sent back, the thinking switch per model, saved
and restored.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from kimi_repl.commands import CommandError, CommandRegistry
from kimi_repl.commands.context import CommandContext
from kimi_repl.config import Settings
from kimi_repl.sessions import load_file
from kimi_repl.transcript import to_markdown
from tests.fake import FakeMoonshot, Script
from tests.helpers import CapturedDisplay, saved_session


def thinking_session(settings: Settings, *, show: bool) -> tuple[CommandContext, CapturedDisplay]:
    display = CapturedDisplay(terminal=True, width=120)
    display.show_thinking = show
    return CommandContext.open(replace(settings, model="kimi-k2.6"), display), display


def test_thinking_collapses_to_one_line_when_hidden(settings: Settings, server: FakeMoonshot) -> None:
    session, display = thinking_session(settings, show=False)
    server.script(Script(reasoning="Rayleigh scattering favours short wavelengths.", text="Because of **Rayleigh**."))
    turn = session.chat.send("Why is the sky blue?")
    assert turn is not None and turn.reasoning_content == "Rayleigh scattering favours short wavelengths."
    screen = "\n".join(screen_lines(display.output))
    assert "✻ Thought for" in screen and "/thinking show" in screen
    assert "favours short wavelengths" not in screen
    assert "Because of Rayleigh." in screen


def test_thinking_is_shown_in_full_when_asked(settings: Settings, server: FakeMoonshot) -> None:
    session, display = thinking_session(settings, show=True)
    server.script(Script(reasoning="First, light.\nThen, air.", text="Blue.", chunk_chars=3))
    session.chat.send("Why?")
    screen = screen_lines(display.output)
    assert "✻ Thinking…" in screen and "First, light." in screen and "Then, air." in screen
    assert screen.index("Then, air.") < next(i for i, line in enumerate(screen) if "Thought for" in line)
    assert "Blue." in screen


def test_reasoning_is_kept_but_not_sent_back(settings: Settings, server: FakeMoonshot) -> None:
    session, _ = thinking_session(settings, show=False)
    server.script(Script(reasoning="secret musings", text="42"))
    session.chat.send("q1")
    session.chat.send("q2")
    sent = server.chat_requests()[-1]["messages"]
    assert sent[1] == {"role": "assistant", "content": "42"}
    assert "reasoning_content" not in json.dumps(sent)


def test_thinking_show_and_hide_change_only_the_display(
    registry: CommandRegistry, session: CommandContext, display: CapturedDisplay
) -> None:
    registry.dispatch(session, "/thinking show")
    assert session.display.show_thinking and "shown in full" in display.output
    registry.dispatch(session, "/thinking hide")
    assert not session.display.show_thinking
    assert session.chat.conversation.thinking is None
    with pytest.raises(CommandError, match=r"on or off.*show, hide"):
        registry.dispatch(session, "/thinking loud")


def screen_lines(output: str) -> list[str]:
    from tests.helpers import screen_of

    return [line for line in screen_of(output, width=120, height=200) if line]


def test_thinking_off_and_on_for_a_model_that_can_switch(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    registry.dispatch(session, "/thinking off")
    assert "Thinking: off for kimi-k2.6" in display.output
    off = session.chat.send("quick")
    registry.dispatch(session, "/thinking on")
    on = session.chat.send("slow")
    assert off is not None and on is not None
    assert not off.reasoning_content and on.reasoning_content
    first, second = server.chat_requests()
    assert (first["thinking"], second["thinking"]) == ({"type": "disabled"}, {"type": "enabled"})
    assert session.usage_line(off) and "thinking off" in (session.usage_line(off) or "")


@pytest.mark.parametrize(
    ("model", "says"),
    [
        ("kimi-k2.7-code", "kimi-k2.7-code always thinks: it cannot be switched off"),
        ("moonshot-v1-8k", "moonshot-v1-8k does not think"),
        ("local-llama", "local-llama is not a model kimi-repl knows can switch thinking"),
    ],
)
def test_thinking_on_a_model_that_cannot_switch_is_one_line_and_changes_nothing(
    registry: CommandRegistry, settings: Settings, display: CapturedDisplay, model: str, says: str
) -> None:
    session = CommandContext.open(replace(settings, model=model), display)
    with pytest.raises(CommandError, match=says) as caught:
        registry.dispatch(session, "/thinking off")
    assert "\n" not in str(caught.value) and session.chat.conversation.thinking is None


def test_kimi_k2_7_code_always_thinks_and_is_never_sent_a_switch(
    settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session = CommandContext.open(replace(settings, model="kimi-k2.7-code", thinking=False, temperature=0.2), display)
    turn = session.chat.send("refactor this")
    assert turn is not None and turn.reasoning_content
    body = server.chat_requests()[-1]
    assert "thinking" not in body and "temperature" not in body
    assert "thinking always" in (session.usage_line(turn) or "")


def test_the_thinking_choice_is_saved_and_restored_on_resume(
    registry: CommandRegistry, settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session = saved_session(settings, display)
    registry.dispatch(session, "/thinking off")
    session.chat.send("one")
    assert session.chat.log is not None
    conversation, _ = load_file(session.chat.log.path)
    assert conversation.thinking is False and conversation.turns[-1].thinking is False
    session.chat.close()
    resumed = saved_session(settings, CapturedDisplay())
    resumed.chat.resume(session.chat.log.path)
    resumed.chat.send("two")
    assert server.chat_requests()[-1]["thinking"] == {"type": "disabled"}
    assert "**Thinking:** off" in to_markdown(resumed.chat.conversation)
