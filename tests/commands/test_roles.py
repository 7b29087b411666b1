"""/role: listing, taking and leaving roles from the config file."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from kimi_repl.commands import CommandError, CommandRegistry
from kimi_repl.commands.context import CommandContext
from kimi_repl.config import Settings
from kimi_repl.configfile import read_config
from tests.helpers import CONFIG, CapturedDisplay, write_config


def test_role_command_lists_takes_and_leaves(
    registry: CommandRegistry, settings: Settings, display: CapturedDisplay, isolated_user: Path
) -> None:
    write_config(isolated_user, CONFIG)
    config = read_config()
    session = CommandContext.open(replace(settings, roles=config.roles, model="kimi-k2.6"), display)
    registry.dispatch(session, "/role")
    assert "translator" in display.output and "model moonshot-v1-8k · temperature 0.1" in display.output
    registry.dispatch(session, "/role translator")
    conversation = session.chat.conversation
    assert (conversation.model, conversation.temperature, conversation.system) == (
        "moonshot-v1-8k",
        0.1,
        "Translate into English.",
    )
    registry.dispatch(session, "/role clear")
    assert (conversation.model, conversation.temperature, conversation.system) == ("kimi-k2.6", None, None)
    with pytest.raises(CommandError, match="No role 'nope'"):
        registry.dispatch(session, "/role nope")


def test_role_clear_keeps_a_model_chosen_after_the_role(
    registry: CommandRegistry, settings: Settings, display: CapturedDisplay
) -> None:
    from kimi_repl.configfile import Role

    roles = {"translator": Role("translator", system="Translate.", model="moonshot-v1-32k", temperature=0.1)}
    session = CommandContext.open(replace(settings, roles=roles), display)
    registry.dispatch(session, "/role translator")
    registry.dispatch(session, "/model kimi-k2.5")
    registry.dispatch(session, "/role clear")
    conversation = session.chat.conversation
    assert conversation.model == "kimi-k2.5"  # chosen after the role: it stays
    assert conversation.system is None and conversation.temperature is None  # the role's own go back


def test_one_role_after_another_leaves_nothing_of_the_first_and_clear_goes_back_to_yours(
    registry: CommandRegistry, settings: Settings, display: CapturedDisplay
) -> None:
    from kimi_repl.configfile import Role

    roles = {
        "translator": Role("translator", system="Translate.", model="moonshot-v1-32k", temperature=0.1),
        "quick": Role("quick", system=None, model="kimi-k2.6", temperature=None, thinking=False),
    }
    session = CommandContext.open(replace(settings, roles=roles, model="kimi-k2.5"), display)
    conversation = session.chat.conversation
    registry.dispatch(session, "/thinking on")
    mine = conversation.in_force
    registry.dispatch(session, "/role translator")
    registry.dispatch(session, "/role quick")
    assert (conversation.model, conversation.system, conversation.temperature) == ("kimi-k2.6", None, None)
    assert conversation.in_force.thinking is False
    registry.dispatch(session, "/role clear")
    assert conversation.in_force == mine
    registry.dispatch(session, "/role quick")
    registry.dispatch(session, "/role translator")
    assert conversation.in_force.thinking is True and conversation.system == "Translate."
    registry.dispatch(session, "/role clear")
    assert conversation.in_force == mine
