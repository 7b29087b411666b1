"""The slash-command registry: dispatch, refusals that change nothing, /help and completion from one table."""

from __future__ import annotations

import pytest

from kimi_repl.commands import CommandError, CommandRegistry, build_registry
from kimi_repl.commands.context import CommandContext
from tests.helpers import CapturedDisplay, completions


def test_help_lists_every_command_and_alias(
    registry: CommandRegistry, session: CommandContext, display: CapturedDisplay
) -> None:
    registry.dispatch(session, "/help")
    for command in registry:
        for name in (command.name, *command.aliases):
            assert f"/{name}" in display.output
    assert "Alt-Enter" in display.output and "Ctrl-C" in display.output


def test_exit_and_quit_request_exit(registry: CommandRegistry, session: CommandContext) -> None:
    registry.dispatch(session, "/quit")
    assert session.state.exit_requested


def test_unknown_command_is_refused_in_one_line(registry: CommandRegistry, session: CommandContext) -> None:
    with pytest.raises(CommandError, match="Unknown command /frobnicate") as caught:
        registry.dispatch(session, "/frobnicate now")
    assert "\n" not in str(caught.value)


def test_command_that_takes_no_argument_refuses_one(registry: CommandRegistry, session: CommandContext) -> None:
    session.chat.send("keep me")
    with pytest.raises(CommandError, match="takes no argument"):
        registry.dispatch(session, "/clear everything")
    assert session.chat.conversation.turns


def test_command_names_complete_with_their_summary(registry: CommandRegistry, session: CommandContext) -> None:
    assert completions(registry, session, "/te") == ["/temp", "/temperature"]
    assert completions(registry, session, "/system c") == ["clear"]
    assert completions(registry, session, "plain text") == []


def test_registry_refuses_a_name_registered_twice(registry: CommandRegistry) -> None:
    with pytest.raises(ValueError, match="twice"):
        registry.command("quit", "again")(lambda session, argument: None)


def test_each_registry_is_its_own(session: CommandContext) -> None:
    first, second = build_registry(), build_registry()
    first.command("extra", "only here")(lambda s, a: None)
    assert first.find("extra") is not None and second.find("extra") is None
