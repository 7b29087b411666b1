"""/model and /models: showing, switching, refusing bad names, completion."""

from __future__ import annotations

import pytest

from kimi_repl.commands import CommandError, CommandRegistry
from kimi_repl.commands.context import CommandContext
from tests.fake import FakeModel, FakeMoonshot
from tests.helpers import CapturedDisplay, completions


def test_model_shows_and_switches(
    registry: CommandRegistry, session: CommandContext, display: CapturedDisplay, server: FakeMoonshot
) -> None:
    registry.dispatch(session, "/model")
    assert "Model: kimi-k2.6 · thinking on · 256k context · images" in display.output
    registry.dispatch(session, "/model moonshot-v1-8k")
    assert "Model: moonshot-v1-8k · 8k context (from the next message on)" in display.output
    assert session.chat.model == "moonshot-v1-8k"
    session.chat.send("hi")
    assert server.chat_requests()[-1]["model"] == "moonshot-v1-8k"


@pytest.mark.parametrize("name", ["kimi latest", "kimi\u200b-k2.6", "kimi-\u202ek2", "k" * 200])
def test_a_model_name_with_spaces_or_invisible_characters_is_refused(
    registry: CommandRegistry, session: CommandContext, name: str
) -> None:
    with pytest.raises(CommandError, match="model name"):
        registry.dispatch(session, f"/model {name}")
    assert session.chat.model == "kimi-k2.6"


def test_switching_to_a_model_the_server_does_not_list_warns_at_once(
    registry: CommandRegistry, session: CommandContext, display: CapturedDisplay, server: FakeMoonshot
) -> None:
    registry.dispatch(session, "/model kimi-k2-turbo-preview")
    assert "kimi-k2-turbo-preview is not a model this server lists" in display.output
    assert "Current models: kimi-k2.6," in display.output
    assert server.chat_requests() == []


def test_models_lists_server_models_with_windows(
    registry: CommandRegistry, session: CommandContext, display: CapturedDisplay
) -> None:
    registry.dispatch(session, "/models")
    lines = display.output.splitlines()
    assert any("moonshot-v1-8k " in line and "8k context" in line for line in lines)
    assert any("kimi-k2.6 " in line and "thinking (switchable) · images" in line for line in lines)
    assert any("kimi-k2.7-code " in line and "always thinks" in line for line in lines)
    assert any("kimi-k3 " in line and "1M context" in line for line in lines)
    assert "← current" in display.output


def test_model_completion_offers_server_and_builtin_names(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot
) -> None:
    server.models["kimi-server-only"] = FakeModel(8192)
    offered = completions(registry, session, "/model kimi-")
    assert "kimi-server-only" in offered and "kimi-k2.7-code" in offered
    assert "kimi-k2-turbo-preview" not in offered  # the server does not list it any more
    completions(registry, session, "/model moon")
    assert sum(r.path == "/v1/models" for r in server.requests) == 1


def test_model_completion_without_a_server_falls_back_to_builtin_names(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot
) -> None:
    server.stop()
    session.chat.client.settings.max_retries = 0
    assert "moonshot-v1-8k" in completions(registry, session, "/model moon")
