"""/save, /load, /sessions, /resume and deleting sessions; path completion."""

from __future__ import annotations

from pathlib import Path

import pytest

from kimi_repl.commands import CommandError, CommandRegistry
from kimi_repl.commands.context import CommandContext
from kimi_repl.config import Settings, sessions_dir
from kimi_repl.errors import UserError
from kimi_repl.sessions import SessionStore
from kimi_repl.transcript import TranscriptError
from tests.fake import FakeMoonshot
from tests.helpers import CapturedDisplay, completions, saved_session


def make_sessions(settings: Settings, texts: list[list[str]]) -> list[CommandContext]:
    made = []
    for messages in texts:
        session = saved_session(settings, CapturedDisplay(), model="moonshot-v1-8k")
        for text in messages:
            session.chat.send(text)
        session.chat.close()
        made.append(session)
    return made


def test_sessions_words_finds_every_word_in_some_turn(
    registry: CommandRegistry, settings: Settings, display: CapturedDisplay
) -> None:
    make_sessions(
        settings,
        [
            ["Rust lifetimes explained", "and borrowing?"],
            ["Python asyncio", "RUST async too"],
            ["中文分词怎么做", "用 jieba"],
            ['quotes "inside" and back\\slash'],
        ],
    )
    store = SessionStore(sessions_dir(), secret=None)
    assert [info.title for info, _ in store.search(["rust", "borrowing"])] == ["Rust lifetimes explained"]
    assert sorted(info.title for info, _ in store.search(["rust"])) == ["Python asyncio", "Rust lifetimes explained"]
    assert [line for _, line in store.search(["ASYNC", "python"])] == ["Python asyncio"]
    assert [info.title for info, _ in store.search(["jieba", "分词"])] == ["中文分词怎么做"]
    assert len(store.search(['"inside"'])) == 1 and len(store.search(["back\\slash"])) == 1
    assert store.search(["rust", "jieba"]) == []
    session = CommandContext.open(settings, display, store=store)
    registry.dispatch(session, "/sessions 分词")
    assert "Sessions that mention '分词'" in display.output and "中文分词怎么做" in display.output
    registry.dispatch(session, "/sessions nothing-here")
    assert "No session mentions 'nothing-here'" in display.output


def test_deleting_a_session_asks_first(registry: CommandRegistry, settings: Settings, display: CapturedDisplay) -> None:
    make_sessions(settings, [["keep me"], ["delete me"]])
    store = SessionStore(sessions_dir(), secret=None)
    session = CommandContext.open(settings, display, store=store)
    asked: list[str] = []

    def say_no(question: str) -> bool:
        asked.append(question)
        return False

    session.state.confirm = say_no
    registry.dispatch(session, "/sessions delete 1")
    assert "Nothing deleted." in display.output and len(store.paths()) == 2
    session.state.confirm = lambda question: True
    registry.dispatch(session, "/sessions delete 1")
    assert "delete me" in asked[0] and [info.title for info in store.recent()] == ["keep me"]
    with pytest.raises(UserError, match="no saved session"):
        registry.dispatch(session, "/sessions delete nope")


def test_a_session_open_elsewhere_or_here_is_not_deleted(
    registry: CommandRegistry, settings: Settings, display: CapturedDisplay
) -> None:
    store = SessionStore(sessions_dir(), secret=None)
    here = saved_session(settings, display)
    here.chat.send("open here")
    here.state.confirm = lambda question: True
    with pytest.raises(CommandError, match="the session open here"):
        registry.dispatch(here, "/sessions delete 1")
    other = CommandContext.open(settings, CapturedDisplay(), store=store)
    asked: list[str] = []

    def confirm(question: str) -> bool:
        asked.append(question)
        return True

    other.state.confirm = confirm
    with pytest.raises(UserError, match="open in another kimi-repl"):
        registry.dispatch(other, "/sessions delete 1")
    assert asked == []  # told at once, not after a yes


def test_resume_by_number_names_the_row_of_the_list_shown_last(
    registry: CommandRegistry, settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    store = SessionStore(sessions_dir(), secret=None)
    for word in ("alpha", "beta", "gamma"):
        other = CommandContext.open(settings, CapturedDisplay(), store=store)
        other.chat.send(f"about {word}")
        other.chat.close()
    session = CommandContext.open(settings, display, store=store)
    registry.dispatch(session, "/sessions alpha")
    registry.dispatch(session, "/resume 1")
    assert session.chat.conversation.turns[0].content == "about alpha"
    registry.dispatch(session, "/sessions")
    with pytest.raises(TranscriptError, match="open here already"):  # newest first: the one resumed last
        registry.dispatch(session, "/resume 1")
    registry.dispatch(session, "/resume 2")
    assert session.chat.conversation.turns[0].content == "about gamma"
    with pytest.raises(CommandError, match="give a number from 1 to 3"):
        registry.dispatch(session, "/resume 9")


def test_save_bang_alone_replaces_the_file_saved_last(
    registry: CommandRegistry, session: CommandContext, display: CapturedDisplay, tmp_path: Path
) -> None:
    session.chat.send("hi")
    registry.dispatch(session, "/save")
    with pytest.raises(TranscriptError, match="use /save! to replace it"):
        registry.dispatch(session, "/save")  # /save's own name exists now: /save! alone replaces it
    registry.dispatch(session, "/save!")
    assert f"Saved 2 turns to kimi-{session.chat.conversation.id}.md" in display.output
    session.chat.send("hello")
    path = tmp_path / "chat.md"
    registry.dispatch(session, f"/save {path}")
    session.chat.send("more")
    registry.dispatch(session, "/save!")
    assert "more" in path.read_text()


@pytest.fixture
def autosaved_session(settings: Settings, display: CapturedDisplay, isolated_user: Path) -> CommandContext:
    return CommandContext.open(settings, display, store=SessionStore(sessions_dir(), secret=settings.api_key))


def test_save_then_load_restores_turns_and_settings(
    registry: CommandRegistry, autosaved_session: CommandContext, display: CapturedDisplay, tmp_path: Path
) -> None:
    registry.dispatch(autosaved_session, "/save")
    assert "Nothing to save yet." in display.output
    registry.dispatch(autosaved_session, "/system terse")
    registry.dispatch(autosaved_session, "/temperature 0.2")
    autosaved_session.chat.send("remember this")
    for name in ("c.md", "c.json", "plain"):
        registry.dispatch(autosaved_session, f"/save {tmp_path / name}")
    registry.dispatch(autosaved_session, "/save")
    assert Path(f"kimi-{autosaved_session.chat.conversation.id}.md").exists()
    with pytest.raises(UserError, match="already exists"):
        registry.dispatch(autosaved_session, f"/save {tmp_path / 'c.md'}")
    registry.dispatch(autosaved_session, f"/save! '{tmp_path / 'c.md'}'")
    before = autosaved_session.chat.conversation
    for name in ("c.md", "c.json", "plain"):
        registry.dispatch(autosaved_session, "/clear")
        registry.dispatch(autosaved_session, "/system other")
        registry.dispatch(autosaved_session, f"/load {tmp_path / name}")
        after = autosaved_session.chat.conversation
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
    registry: CommandRegistry, autosaved_session: CommandContext, display: CapturedDisplay, server: FakeMoonshot
) -> None:
    registry.dispatch(autosaved_session, "/sessions")
    assert "No saved sessions yet." in display.output
    autosaved_session.chat.send("the first conversation")
    first = autosaved_session.chat.conversation.id
    registry.dispatch(autosaved_session, "/clear")
    autosaved_session.chat.send("the second one")
    registry.dispatch(autosaved_session, "/sessions")
    assert "the first conversation" in display.output and "the second one" in display.output
    registry.dispatch(autosaved_session, "/resume 2")
    assert autosaved_session.chat.conversation.id == first
    assert "Resumed session" in display.output
    autosaved_session.chat.send("more")
    assert server.chat_requests()[-1]["messages"][0]["content"] == "the first conversation"
    with pytest.raises(UserError, match="no saved session"):
        registry.dispatch(autosaved_session, "/resume nope")


def test_path_completion(registry: CommandRegistry, session: CommandContext, tmp_path: Path) -> None:
    (tmp_path / "work" / "notes.md").write_text("x")
    (tmp_path / "work" / "nested").mkdir()
    assert completions(registry, session, "/load no") == ["notes.md"]
    assert completions(registry, session, "/save ne") == ["nested/"]


def test_resuming_a_session_whose_model_the_server_does_not_list_says_so(
    registry: CommandRegistry, autosaved_session: CommandContext, display: CapturedDisplay, server: FakeMoonshot
) -> None:
    """Found by a new user: -r warned, /resume did not, and the first message failed."""
    server.models["kimi-old-preview"] = server.models["kimi-k2.6"]
    autosaved_session.chat.choose(model="kimi-old-preview")
    autosaved_session.chat.send("on a model that goes away")
    registry.dispatch(autosaved_session, "/clear")
    del server.models["kimi-old-preview"]
    autosaved_session.chat.client._models = None  # the list is asked again, as by a new kimi-repl
    autosaved_session.chat.client.list_models()
    registry.dispatch(autosaved_session, "/resume 1")
    assert "kimi-old-preview is not a model this server lists" in display.output
