"""/temperature, /system and /clear."""

from __future__ import annotations

import pytest

from kimi_repl.commands import CommandError, CommandRegistry
from kimi_repl.commands.context import CommandContext
from tests.fake import FakeMoonshot
from tests.helpers import CapturedDisplay


@pytest.mark.parametrize("bad", ["2", "-0.5", "warm", "nan"])
def test_bad_temperature_is_refused_and_the_old_value_stays(
    registry: CommandRegistry, session: CommandContext, bad: str
) -> None:
    registry.dispatch(session, "/model moonshot-v1-8k")
    registry.dispatch(session, "/temperature 0.4")
    with pytest.raises(CommandError, match=r"it stays 0\.4"):
        registry.dispatch(session, f"/temperature {bad}")
    assert session.chat.conversation.temperature == 0.4


def test_temperature_is_sent_from_the_next_turn(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    registry.dispatch(session, "/model moonshot-v1-8k")
    registry.dispatch(session, "/temperature")
    assert "0.3 (Moonshot's recommendation for moonshot-v1-8k)" in display.output
    registry.dispatch(session, "/temp 0.9")
    session.chat.send("hi")
    assert server.chat_requests()[-1]["temperature"] == 0.9


def test_a_bad_temperature_for_a_fixed_temperature_model_is_one_clean_sentence(
    registry: CommandRegistry, session: CommandContext, display: CapturedDisplay
) -> None:
    with pytest.raises(CommandError) as raised:
        registry.dispatch(session, "/temperature banana")
    message = str(raised.value)
    assert "not 'banana'. Nothing changed: kimi-k2.6 uses 1 with thinking on" in message
    assert "it stays kimi" not in message  # the garbled join of a sentence after "it stays"
    assert message.endswith("none is sent.") and ".." not in message


def test_temperature_explains_fixed_temperature_models(
    registry: CommandRegistry, session: CommandContext, display: CapturedDisplay
) -> None:
    registry.dispatch(session, "/temperature 0.5")
    assert (
        "kimi-k2.6 uses 1 with thinking on and refuses any other, so none is sent; "
        "your choice (0.5) applies to models that take one"
    ) in display.output
    registry.dispatch(session, "/thinking off")
    registry.dispatch(session, "/temperature")
    assert "kimi-k2.6 uses 0.6 with thinking off" in display.output
    registry.dispatch(session, "/model kimi-k2.7-code")
    registry.dispatch(session, "/temperature")
    assert "kimi-k2.7-code sets its own and refuses any other" in display.output


def test_system_sets_shows_and_clears(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    registry.dispatch(session, "/system")
    assert "No system prompt." in display.output
    registry.dispatch(session, "/system Answer in 中文, briefly.")
    session.chat.send("hi")
    assert server.chat_requests()[-1]["messages"][0] == {"role": "system", "content": "Answer in 中文, briefly."}
    registry.dispatch(session, "/system")
    assert "Answer in 中文, briefly." in display.output
    registry.dispatch(session, "/system clear")
    session.chat.send("again")
    assert server.chat_requests()[-1]["messages"][0]["role"] == "user"


def test_clear_starts_a_new_conversation_with_the_same_settings(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot
) -> None:
    registry.dispatch(session, "/system terse")
    registry.dispatch(session, "/model moonshot-v1-8k")
    session.chat.send("one")
    registry.dispatch(session, "/clear")
    session.chat.send("two")
    sent = server.chat_requests()[-1]
    assert sent["model"] == "moonshot-v1-8k"
    assert sent["messages"] == [{"role": "system", "content": "terse"}, {"role": "user", "content": "two"}]
