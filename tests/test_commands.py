"""The slash-command registry: dispatch, refusals that change nothing, /help and completion from one table."""

from __future__ import annotations

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from kimi_repl.chat import ChatSession
from kimi_repl.commands import CommandError, CommandRegistry, SlashCompleter, build_registry
from tests.conftest import CapturedDisplay
from tests.fake_server import FakeMoonshot


@pytest.fixture
def registry() -> CommandRegistry:
    return build_registry()


def completions(registry: CommandRegistry, session: ChatSession, text: str) -> list[str]:
    completer = SlashCompleter(registry, session)
    return [c.text for c in completer.get_completions(Document(text), CompleteEvent(completion_requested=True))]


def test_help_lists_every_command_and_alias(
    registry: CommandRegistry, session: ChatSession, display: CapturedDisplay
) -> None:
    registry.dispatch(session, "/help")
    for command in registry:
        for name in (command.name, *command.aliases):
            assert f"/{name}" in display.output
    assert "Alt-Enter" in display.output and "Ctrl-C" in display.output


def test_exit_and_quit_request_exit(registry: CommandRegistry, session: ChatSession) -> None:
    registry.dispatch(session, "/quit")
    assert session.exit_requested


def test_unknown_command_is_refused_in_one_line(registry: CommandRegistry, session: ChatSession) -> None:
    with pytest.raises(CommandError, match="Unknown command /frobnicate") as caught:
        registry.dispatch(session, "/frobnicate now")
    assert "\n" not in str(caught.value)


def test_command_that_takes_no_argument_refuses_one(registry: CommandRegistry, session: ChatSession) -> None:
    session.send("keep me")
    with pytest.raises(CommandError, match="takes no argument"):
        registry.dispatch(session, "/clear everything")
    assert session.conversation.turns


def test_model_shows_and_switches(
    registry: CommandRegistry, session: ChatSession, display: CapturedDisplay, server: FakeMoonshot
) -> None:
    registry.dispatch(session, "/model")
    assert "Model: kimi-k2-turbo-preview" in display.output
    registry.dispatch(session, "/model moonshot-v1-8k")
    assert session.model == "moonshot-v1-8k"
    session.send("hi")
    assert server.chat_requests()[-1]["model"] == "moonshot-v1-8k"


def test_model_name_with_spaces_is_refused(registry: CommandRegistry, session: ChatSession) -> None:
    with pytest.raises(CommandError, match="no spaces"):
        registry.dispatch(session, "/model kimi latest")
    assert session.model == "kimi-k2-turbo-preview"


def test_switching_to_a_model_the_server_does_not_list_warns(
    registry: CommandRegistry, session: ChatSession, display: CapturedDisplay
) -> None:
    registry.dispatch(session, "/model kimi-k9")
    assert "not a model this server lists" in display.output


def test_models_lists_server_models_with_windows(
    registry: CommandRegistry, session: ChatSession, display: CapturedDisplay
) -> None:
    registry.dispatch(session, "/models")
    assert "moonshot-v1-8k" in display.output and "8k context" in display.output
    assert "← current" in display.output


def test_model_completion_offers_server_and_builtin_names(
    registry: CommandRegistry, session: ChatSession, server: FakeMoonshot
) -> None:
    server.windows["kimi-server-only"] = 8192
    offered = completions(registry, session, "/model kimi-")
    assert "kimi-server-only" in offered and "kimi-k2-thinking" in offered
    completions(registry, session, "/model moon")
    assert sum(r.path == "/v1/models" for r in server.requests) == 1


def test_model_completion_without_a_server_falls_back_to_builtin_names(
    registry: CommandRegistry, session: ChatSession, server: FakeMoonshot
) -> None:
    server.stop()
    session.client.settings.max_retries = 0
    assert "moonshot-v1-8k" in completions(registry, session, "/model moon")


def test_command_names_complete_with_their_summary(registry: CommandRegistry, session: ChatSession) -> None:
    assert completions(registry, session, "/te") == ["/temp", "/temperature"]
    assert completions(registry, session, "/system c") == ["clear"]
    assert completions(registry, session, "plain text") == []


@pytest.mark.parametrize("bad", ["2", "-0.5", "warm", "nan"])
def test_bad_temperature_is_refused_and_the_old_value_stays(
    registry: CommandRegistry, session: ChatSession, bad: str
) -> None:
    registry.dispatch(session, "/temperature 0.4")
    with pytest.raises(CommandError, match=r"it stays 0\.4"):
        registry.dispatch(session, f"/temperature {bad}")
    assert session.settings.temperature == 0.4


def test_temperature_is_sent_from_the_next_turn(
    registry: CommandRegistry, session: ChatSession, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    registry.dispatch(session, "/temperature")
    assert "0.6 (Moonshot's recommendation" in display.output
    registry.dispatch(session, "/temp 0.9")
    session.send("hi")
    assert server.chat_requests()[-1]["temperature"] == 0.9


def test_temperature_explains_fixed_temperature_models(
    registry: CommandRegistry, session: ChatSession, display: CapturedDisplay
) -> None:
    registry.dispatch(session, "/model kimi-k2-thinking")
    registry.dispatch(session, "/temperature 0.5")
    assert "accepts only its own temperature (1), so none is sent (you chose 0.5)" in display.output


def test_system_sets_shows_and_clears(
    registry: CommandRegistry, session: ChatSession, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    registry.dispatch(session, "/system")
    assert "No system prompt." in display.output
    registry.dispatch(session, "/system Answer in 中文, briefly.")
    session.send("hi")
    assert server.chat_requests()[-1]["messages"][0] == {"role": "system", "content": "Answer in 中文, briefly."}
    registry.dispatch(session, "/system")
    assert "Answer in 中文, briefly." in display.output
    registry.dispatch(session, "/system clear")
    session.send("again")
    assert server.chat_requests()[-1]["messages"][0]["role"] == "user"


def test_clear_starts_a_new_conversation_with_the_same_settings(
    registry: CommandRegistry, session: ChatSession, server: FakeMoonshot
) -> None:
    registry.dispatch(session, "/system terse")
    registry.dispatch(session, "/model moonshot-v1-8k")
    session.send("one")
    registry.dispatch(session, "/clear")
    session.send("two")
    sent = server.chat_requests()[-1]
    assert sent["model"] == "moonshot-v1-8k"
    assert sent["messages"] == [{"role": "system", "content": "terse"}, {"role": "user", "content": "two"}]


def test_registry_refuses_a_name_registered_twice(registry: CommandRegistry) -> None:
    with pytest.raises(ValueError, match="twice"):
        registry.command("quit", "again")(lambda session, argument: None)


def test_each_registry_is_its_own(session: ChatSession) -> None:
    first, second = build_registry(), build_registry()
    first.command("extra", "only here")(lambda s, a: None)
    assert first.find("extra") is not None and second.find("extra") is None
