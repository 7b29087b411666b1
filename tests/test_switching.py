"""Features that meet: switching model after pictures, documents and long histories; retries just once; the
causes of cuts and refusals named right; the smaller defects of issue 17 and of a new user's first hour."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from kimi_repl.commands import CommandRegistry, build_registry
from kimi_repl.commands.context import CommandContext
from kimi_repl.commands.registry import CommandError
from kimi_repl.config import Settings, sessions_dir
from kimi_repl.configfile import read_config
from kimi_repl.errors import ConfigError
from kimi_repl.sessions import SessionStore
from kimi_repl.transcript import TranscriptError, from_markdown, to_markdown
from tests.conftest import CapturedDisplay
from tests.fake_server import FakeMoonshot, Script
from tests.test_features import png_bytes


@pytest.fixture
def registry() -> CommandRegistry:
    return build_registry()


def refusals(server: FakeMoonshot) -> list[str]:
    """What the fake refused as Moonshot would (a 400 for the request's shape)."""
    return [e for e in server.errors if "refused" in e]


def sent(server: FakeMoonshot) -> list[dict[str, object]]:
    return server.chat_requests()[-1]["messages"]  # type: ignore[no-any-return]


def with_picture(session: CommandContext, registry: CommandRegistry, tmp_path: Path) -> None:
    picture = tmp_path / "cat.png"
    picture.write_bytes(png_bytes())
    registry.dispatch(session, f"/image {picture}")
    assert session.chat.send("what is this?") is not None


def test_a_picture_then_a_text_only_model_names_it_and_every_request_is_accepted(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, display: CapturedDisplay, tmp_path: Path
) -> None:
    with_picture(session, registry, tmp_path)
    display.forget()
    registry.dispatch(session, "/model moonshot-v1-8k")
    assert "moonshot-v1-8k takes no pictures: the 1 picture so far go as their names" in display.output
    for text in ("and now?", "again?"):
        reply = session.chat.send(text)
        assert reply is not None and reply.content.startswith("Echo"), display.output
    first = sent(server)[0]
    assert first == {"role": "user", "content": "what is this?\n\n[picture not shown here: cat.png]"}
    assert display.output.count("takes no pictures: the 1 picture in this conversation go as their names") == 1
    registry.dispatch(session, "/model kimi-k2.6")
    session.chat.send("and with eyes?")
    content = sent(server)[0]["content"]
    assert isinstance(content, list) and content[1]["type"] == "image_url"  # the picture goes again


def test_retry_with_a_text_only_model_after_a_picture_is_accepted_and_changes_nothing_after(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, display: CapturedDisplay, tmp_path: Path
) -> None:
    with_picture(session, registry, tmp_path)
    registry.dispatch(session, "/retry moonshot-v1-128k")
    assert session.chat.conversation.turns[-1].model == "moonshot-v1-128k"
    assert "Moonshot refused" not in display.output
    session.chat.send("next")
    assert server.chat_requests()[-1]["model"] == "kimi-k2.6"
    assert sent(server)[0]["content"][1]["type"] == "image_url"  # type: ignore[index]


def test_the_older_lineup_never_gets_a_picture_its_profile_refuses(
    registry: CommandRegistry, settings: Settings, display: CapturedDisplay, tmp_path: Path
) -> None:
    with FakeMoonshot(lineup="legacy") as legacy:
        session = CommandContext.open(replace(settings, base_url=legacy.base_url, model="kimi-latest"), display)
        with_picture(session, registry, tmp_path)
        registry.dispatch(session, "/model kimi-k2-turbo-preview")
        assert session.chat.send("and now?") is not None
        assert sent(legacy)[0]["content"] == "what is this?\n\n[picture not shown here: cat.png]"


def big_exchanges(session: CommandContext, server: FakeMoonshot, count: int) -> None:
    for n in range(count):
        server.script(Script(text=f"reply {n} " + "word " * 1500))
        assert session.chat.send(f"question {n}") is not None


def test_turns_left_out_for_a_small_window_go_again_to_a_large_one(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    big_exchanges(session, server, 4)
    registry.dispatch(session, "/model moonshot-v1-8k")
    assert "window does not hold the whole conversation" in display.output
    session.chat.send("small one")
    assert "oldest turns are not sent with this message" in display.output
    assert len(sent(server)) < 9
    registry.dispatch(session, "/history")
    assert "not sent" in display.output
    display.forget()
    registry.dispatch(session, "/model kimi-k2.6")
    session.chat.send("big one")
    assert len(sent(server)) == 11  # everything again
    assert "older turns left out before are sent again" in display.output
    assert session.chat.conversation.context_start == 0


def test_retry_with_a_small_model_is_just_once(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    big_exchanges(session, server, 4)
    registry.dispatch(session, "/retry moonshot-v1-8k")
    assert server.chat_requests()[-1]["model"] == "moonshot-v1-8k"
    retried = server.chat_requests()[-1]["messages"]
    assert retried[-1]["content"] == "question 3" and len(retried) == 7  # it fits once the old reply is not counted
    assert session.chat.conversation.turns[-1].model == "moonshot-v1-8k"
    session.chat.send("next")
    assert server.chat_requests()[-1]["model"] == "kimi-k2.6"
    assert len(sent(server)) == 9 and session.chat.conversation.context_start == 0


def test_compact_is_a_choice_that_can_be_taken_back(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session.chat.settings = replace(session.settings, model="moonshot-v1-8k")
    registry.dispatch(session, "/model moonshot-v1-8k")
    for n in range(4):
        server.script(Script(text="word " * 1000))
        session.chat.send(f"q{n}")
    registry.dispatch(session, "/compact")
    start = session.chat.conversation.context_start
    assert start >= 2 and "/compact off sends them again" in display.output
    session.chat.send("after")
    assert sent(server)[0]["content"] != "q0"
    registry.dispatch(session, "/compact off")
    assert session.chat.conversation.context_start == 0 and f"The {start} oldest turns are sent again" in display.output


def test_a_document_too_big_for_the_new_model_is_named_with_the_way_out(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, display: CapturedDisplay, tmp_path: Path
) -> None:
    document = tmp_path / "report.txt"
    document.write_text("Quarterly numbers. " * 2000)  # about 38 KB: fits kimi-k2.6, not moonshot-v1-8k
    registry.dispatch(session, f"/file {document}")
    registry.dispatch(session, "/model moonshot-v1-8k")
    display.forget()
    assert session.chat.send("and now?") is None
    assert "Your document" in display.output and "/file clear removes them" in display.output
    assert "Your message is" not in display.output


def test_a_cut_is_blamed_on_the_budget_or_on_the_model(
    settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session = CommandContext.open(replace(settings, model="moonshot-v1-128k"), display)
    server.script(Script(text="A short answer that the model itself stopped", finish_reason="length"))
    session.chat.send("go")
    assert "stopped at its own output limit after" in display.output and "budget was 32,768" in display.output
    display.forget()
    capped = CommandContext.open(replace(settings, model="moonshot-v1-128k", max_tokens=50), display)
    server.script(Script(text="word " * 400))
    capped.chat.send("go")
    assert "reached its budget of 50 tokens" in display.output


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
    with pytest.raises(CommandError, match="needs the PATH"):
        registry.dispatch(session, "/save!")
    session.chat.send("hello")
    path = tmp_path / "chat.md"
    registry.dispatch(session, f"/save {path}")
    session.chat.send("more")
    registry.dispatch(session, "/save!")
    assert "more" in path.read_text()


def test_a_reply_cut_inside_a_code_block_leaves_a_readable_transcript(session: CommandContext) -> None:
    from markdown_it import MarkdownIt

    from kimi_repl.conversation import Turn

    conversation = session.chat.conversation
    conversation.add_user("show me code")
    conversation.add_reply(Turn(role="assistant", content="Here:\n\n```python\nx = 1\n", interrupted=True))
    conversation.add_user("thanks")
    conversation.add_reply(Turn(role="assistant", content="You are welcome."))
    markdown = to_markdown(conversation)
    headings = [t for t in MarkdownIt().parse(markdown) if t.type == "heading_open"]
    assert len(headings) == 5  # the title and four turns: no fence swallows what follows it
    assert [t.content for t in from_markdown(markdown, "t").turns] == [t.content for t in conversation.turns]


def test_history_cuts_chinese_by_width(
    registry: CommandRegistry, session: CommandContext, display: CapturedDisplay
) -> None:
    session.chat.send("中文" * 60)
    display.forget()
    registry.dispatch(session, "/history")
    row = next(line for line in display.output.splitlines() if line.startswith("1"))
    assert row.count("中文") == 17 and "…" in row  # 70 columns: 35 characters of two columns each


def test_the_key_in_config_toml_is_refused_with_where_it_goes(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('api_key = "sk-x"\n')
    path.chmod(0o600)
    with pytest.raises(ConfigError, match=r"never read from config\.toml: set MOONSHOT_API_KEY"):
        read_config(path)
