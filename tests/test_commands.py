"""The slash-command registry: dispatch, refusals that change nothing, /help and completion from one table."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from kimi_repl.commands import CommandError, CommandRegistry, SlashCompleter, build_registry
from kimi_repl.commands.context import CommandContext
from kimi_repl.config import Settings, sessions_dir
from kimi_repl.errors import UserError
from kimi_repl.sessions import SessionStore
from tests.conftest import CapturedDisplay
from tests.fake_server import FakeModel, FakeMoonshot, Script


@pytest.fixture
def registry() -> CommandRegistry:
    return build_registry()


def completions(registry: CommandRegistry, session: CommandContext, text: str) -> list[str]:
    completer = SlashCompleter(registry, session)
    return [c.text for c in completer.get_completions(Document(text), CompleteEvent(completion_requested=True))]


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


def test_command_names_complete_with_their_summary(registry: CommandRegistry, session: CommandContext) -> None:
    assert completions(registry, session, "/te") == ["/temp", "/temperature"]
    assert completions(registry, session, "/system c") == ["clear"]
    assert completions(registry, session, "plain text") == []


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


def test_registry_refuses_a_name_registered_twice(registry: CommandRegistry) -> None:
    with pytest.raises(ValueError, match="twice"):
        registry.command("quit", "again")(lambda session, argument: None)


def test_each_registry_is_its_own(session: CommandContext) -> None:
    first, second = build_registry(), build_registry()
    first.command("extra", "only here")(lambda s, a: None)
    assert first.find("extra") is not None and second.find("extra") is None


# -- conversation and files ------------------------------------------------------------------------


@pytest.fixture
def saved_session(settings: Settings, display: CapturedDisplay, isolated_user: Path) -> CommandContext:
    return CommandContext.open(settings, display, store=SessionStore(sessions_dir(), secret=settings.api_key))


def test_history_lists_turns_compactly(
    registry: CommandRegistry, session: CommandContext, display: CapturedDisplay
) -> None:
    registry.dispatch(session, "/history")
    assert "No messages yet." in display.output
    session.chat.send("first line\nsecond line")
    display.forget()
    registry.dispatch(session, "/history")
    assert "1  you" in display.output and "first line…" in display.output and "second line" not in display.output
    assert "2  kimi (kimi-k2.6)" in display.output


def test_undo_removes_the_last_exchange(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot
) -> None:
    session.chat.send("one")
    session.chat.send("two")
    registry.dispatch(session, "/undo")
    assert [t.content for t in session.chat.conversation.turns] == ["one", "Echo 1: one"]
    session.chat.send("three")
    assert [m["content"] for m in server.chat_requests()[-1]["messages"]] == ["one", "Echo 1: one", "three"]


def test_retry_replaces_the_last_reply_and_can_use_another_model(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session.chat.send("question")
    server.script(Script(text="a better answer"))
    registry.dispatch(session, "/retry moonshot-v1-8k")
    assert [t.content for t in session.chat.conversation.turns] == ["question", "a better answer"]
    assert session.chat.conversation.turns[-1].model == "moonshot-v1-8k" and session.chat.model == "kimi-k2.6"
    assert server.chat_requests()[-1]["messages"] == [{"role": "user", "content": "question"}]
    assert "the model stays kimi-k2.6" in display.output


def test_failed_retry_keeps_the_previous_reply(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session.chat.send("question")
    server.script(Script(status=500, times=3))
    registry.dispatch(session, "/retry")
    assert [t.content for t in session.chat.conversation.turns] == ["question", "Echo 1: question"]
    assert "The previous reply is kept." in display.output


def test_retry_with_nothing_to_retry(
    registry: CommandRegistry, session: CommandContext, display: CapturedDisplay
) -> None:
    registry.dispatch(session, "/retry")
    assert "no reply to retry" in display.output


def test_copy_sends_the_last_reply_with_osc_52(settings: Settings) -> None:
    display = CapturedDisplay(terminal=True)
    session = CommandContext.open(settings, display)
    build_registry().dispatch(session, "/copy")
    assert "no reply to copy" in display.output
    session.chat.send("中文 please")
    build_registry().dispatch(session, "/copy")
    payload = base64.b64encode("Echo 1: 中文 please".encode()).decode()
    assert f"\x1b]52;c;{payload}\x07" in display.output
    assert "Copied the last reply" in display.output


def test_save_then_load_restores_turns_and_settings(
    registry: CommandRegistry, saved_session: CommandContext, display: CapturedDisplay, tmp_path: Path
) -> None:
    registry.dispatch(saved_session, "/save")
    assert "Nothing to save yet." in display.output
    registry.dispatch(saved_session, "/system terse")
    registry.dispatch(saved_session, "/temperature 0.2")
    saved_session.chat.send("remember this")
    for name in ("c.md", "c.json", "plain"):
        registry.dispatch(saved_session, f"/save {tmp_path / name}")
    registry.dispatch(saved_session, "/save")
    assert Path(f"kimi-{saved_session.chat.conversation.id}.md").exists()
    with pytest.raises(UserError, match="already exists"):
        registry.dispatch(saved_session, f"/save {tmp_path / 'c.md'}")
    registry.dispatch(saved_session, f"/save! '{tmp_path / 'c.md'}'")
    before = saved_session.chat.conversation
    for name in ("c.md", "c.json", "plain"):
        registry.dispatch(saved_session, "/clear")
        registry.dispatch(saved_session, "/system other")
        registry.dispatch(saved_session, f"/load {tmp_path / name}")
        after = saved_session.chat.conversation
        assert after.turns == before.turns
        assert (after.system, after.temperature, after.model) == ("terse", 0.2, before.model)
    assert "Loaded" in display.output and "remember this" in display.output


@pytest.mark.parametrize("name", ["missing.json", "garbage.json"])
def test_a_bad_load_leaves_the_conversation_untouched(
    registry: CommandRegistry, session: CommandContext, tmp_path: Path, name: str
) -> None:
    (tmp_path / "garbage.json").write_text("{oops")
    session.chat.send("keep me")
    before = list(session.chat.conversation.turns)
    with pytest.raises(UserError):
        registry.dispatch(session, f"/load {tmp_path / name}")
    assert session.chat.conversation.turns == before


def test_sessions_and_resume(
    registry: CommandRegistry, saved_session: CommandContext, display: CapturedDisplay, server: FakeMoonshot
) -> None:
    registry.dispatch(saved_session, "/sessions")
    assert "No saved sessions yet." in display.output
    saved_session.chat.send("the first conversation")
    first = saved_session.chat.conversation.id
    registry.dispatch(saved_session, "/clear")
    saved_session.chat.send("the second one")
    registry.dispatch(saved_session, "/sessions")
    assert "the first conversation" in display.output and "the second one" in display.output
    registry.dispatch(saved_session, "/resume 2")
    assert saved_session.chat.conversation.id == first
    assert "Resumed session" in display.output
    saved_session.chat.send("more")
    assert server.chat_requests()[-1]["messages"][0]["content"] == "the first conversation"
    with pytest.raises(UserError, match="no saved session"):
        registry.dispatch(saved_session, "/resume nope")


def test_path_completion(registry: CommandRegistry, session: CommandContext, tmp_path: Path) -> None:
    (tmp_path / "work" / "notes.md").write_text("x")
    (tmp_path / "work" / "nested").mkdir()
    assert completions(registry, session, "/load no") == ["notes.md"]
    assert completions(registry, session, "/save ne") == ["nested/"]
