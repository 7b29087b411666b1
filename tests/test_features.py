"""Beyond plain chat, against the fake server: web search, pictures, the editor, config and roles, finding
and deleting sessions, copying code."""

from __future__ import annotations

import base64
import os
import re
import stat
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from kimi_repl.chat.replier import MAX_TOOL_ROUNDS
from kimi_repl.commands import CommandError, CommandRegistry, build_registry
from kimi_repl.commands.context import CommandContext
from kimi_repl.config import Settings, load_settings, sessions_dir
from kimi_repl.configfile import ConfigFile, read_config
from kimi_repl.conversation import Usage
from kimi_repl.editor import EditorError, edit
from kimi_repl.errors import ConfigError, UserError
from kimi_repl.images import sniff
from kimi_repl.sessions import SessionStore, load_file
from kimi_repl.transcript import from_json, from_markdown, to_json, to_markdown
from tests.conftest import CapturedDisplay
from tests.fake_server import FakeMoonshot, Script


@pytest.fixture
def registry() -> CommandRegistry:
    return build_registry()


def saved(settings: Settings, display: CapturedDisplay, **changes: Any) -> CommandContext:
    return CommandContext.open(replace(settings, **changes), display, store=SessionStore(sessions_dir(), secret=None))


# -- web search ------------------------------------------------------------------------------------


def test_a_web_search_round_trip(
    registry: CommandRegistry, settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session = saved(settings, display, web=True, thinking=False)
    turn = session.chat.send("latest kimi news")
    assert turn is not None and turn.content == "Echo 1: latest kimi news"
    asked, answered = server.chat_requests()
    assert asked["tools"] == [{"type": "builtin_function", "function": {"name": "$web_search"}}]
    call_message, tool_message = answered["messages"][-2:]
    call = call_message["tool_calls"][0]
    assert call_message["role"] == "assistant" and call["function"]["name"] == "$web_search"
    assert tool_message == {
        "role": "tool",
        "tool_call_id": call["id"],
        "name": "$web_search",
        "content": call["function"]["arguments"],  # the arguments, unchanged
    }
    assert answered["max_completion_tokens"] < asked["max_completion_tokens"]  # the results take room
    assert [s["query"] for s in turn.searches] == ["latest kimi news"]
    assert "⌕ Searching the web for “latest kimi news”" in display.output
    assert turn.spent is not None and turn.spent.prompt > (turn.usage or Usage()).prompt
    registry.dispatch(session, "/usage")
    assert re.search(r"web searches +1\b", display.output)
    assert session.chat.log is not None
    reloaded, _ = load_file(session.chat.log.path)
    assert reloaded.turns[-1].searches == turn.searches and reloaded.web
    assert "🔍 searched the web: latest kimi news" in to_markdown(reloaded)
    session.chat.send("and then?")
    later = server.chat_requests()[-1]["messages"]
    question = max(i for i, m in enumerate(later) if m["role"] == "user")
    assert [m["role"] for m in later[:question]] == ["user", "assistant"]  # past search rounds are not resent


def test_several_searches_then_an_answer(settings: Settings, server: FakeMoonshot, display: CapturedDisplay) -> None:
    server.search_rounds = 3
    session = CommandContext.open(replace(settings, web=True, thinking=False), display)
    turn = session.chat.send("dig deep")
    assert turn is not None and len(turn.searches) == 3 and len(server.chat_requests()) == 4


def test_searching_without_end_is_stopped(settings: Settings, server: FakeMoonshot, display: CapturedDisplay) -> None:
    server.search_rounds = 100
    session = CommandContext.open(replace(settings, web=True, thinking=False), display)
    assert session.chat.send("forever") is None
    assert "kept searching" in display.output and len(server.chat_requests()) == MAX_TOOL_ROUNDS + 1
    assert session.chat.conversation.turns == []


def test_a_thinking_model_sends_its_reasoning_with_the_search_call(
    settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session = CommandContext.open(replace(settings, web=True), display)
    assert session.chat.send("think and search") is not None
    asked = server.chat_requests()[-1]["messages"][-2]
    assert asked["tool_calls"] and asked["reasoning_content"]  # Moonshot requires it when thinking is on


def test_when_thinking_while_searching_is_refused_thinking_goes_off_for_searches(
    settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    server.search_refuses_thinking = True
    session = CommandContext.open(replace(settings, web=True), display)
    turn = session.chat.send("search please")
    assert turn is not None and turn.content == "Echo 1: search please" and turn.thinking is False
    refused, *rest = server.chat_requests()
    assert refused["thinking"] == {"type": "enabled"}
    assert all(body["thinking"] == {"type": "disabled"} for body in rest)
    assert display.output.count("think while it searches") == 1
    session.chat.send("again")
    assert server.chat_requests()[-1]["thinking"] == {"type": "disabled"}  # remembered: no second refusal


def test_a_model_that_always_thinks_cannot_search_where_that_is_refused(
    settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    server.search_refuses_thinking = True
    session = CommandContext.open(replace(settings, web=True, model="kimi-k2.7-code"), display)
    assert session.chat.send("search please") is None
    assert "/web off" in display.output and session.chat.conversation.turns == []


def test_web_on_and_off(registry: CommandRegistry, session: CommandContext, server: FakeMoonshot) -> None:
    registry.dispatch(session, "/web on")
    session.chat.set_thinking(False)
    session.chat.send("one")
    registry.dispatch(session, "/web off")
    session.chat.send("two")
    bodies = server.chat_requests()
    assert "tools" in bodies[0] and "tools" not in bodies[-1]
    with pytest.raises(CommandError, match="on or off"):
        registry.dispatch(session, "/web sometimes")


def test_retry_searches_again(registry: CommandRegistry, settings: Settings, server: FakeMoonshot) -> None:
    session = CommandContext.open(replace(settings, web=True, thinking=False), CapturedDisplay())
    session.chat.send("news")
    registry.dispatch(session, "/retry")
    assert len(server.chat_requests()) == 4 and len(session.chat.conversation.turns) == 2


# -- pictures --------------------------------------------------------------------------------------


def png_bytes() -> bytes:
    import struct

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (png_bytes(), "image/png"),
        (b"\xff\xd8\xff\xe0 jfif", "image/jpeg"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"GIF89a....", "image/gif"),
        (b"%PDF-1.7", None),
        (b"<svg></svg>", None),
    ],
)
def test_pictures_are_known_by_their_content(data: bytes, mime: str | None) -> None:
    assert sniff(data) == mime


def test_a_picture_goes_with_the_next_message_and_survives_everything(
    registry: CommandRegistry, settings: Settings, server: FakeMoonshot, display: CapturedDisplay, tmp_path: Path
) -> None:
    (tmp_path / "cat.png").write_bytes(png_bytes())
    session = saved(settings, display, thinking=False)
    registry.dispatch(session, f"/image {tmp_path / 'cat.png'}")
    registry.dispatch(session, "/image")
    assert "cat.png  image/png" in display.output
    turn = session.chat.send("what is this?")
    assert turn is not None and turn.content == "Echo 1: what is this? [1 picture]"
    content = server.chat_requests()[-1]["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "what is this?"}
    assert content[1]["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(png_bytes()).decode()
    assert session.chat.attachments == []  # sent: the next message goes without
    session.chat.send("and now?")
    assert server.chat_requests()[-1]["messages"][0]["content"] == content  # the history keeps it
    assert session.chat.log is not None
    reloaded, _ = load_file(session.chat.log.path)
    assert reloaded == session.chat.conversation
    assert from_json(to_json(reloaded), "t") == reloaded
    markdown = to_markdown(reloaded)
    assert "🖼 cat.png" in markdown and base64.b64encode(png_bytes()).decode()[:20] not in markdown
    placeholder = from_markdown(markdown, "t").turns[0].images[0]
    assert (placeholder.name, placeholder.data) == ("cat.png", "")
    assert placeholder.part()["type"] == "image_url"
    assert from_markdown(markdown, "t").turns[0].to_message() == {
        "role": "user",
        "content": "what is this?\n\n[picture not shown here: cat.png]",  # its data was not kept: named only
    }


def test_pictures_are_refused_by_a_model_that_takes_none(
    registry: CommandRegistry, settings: Settings, server: FakeMoonshot, display: CapturedDisplay, tmp_path: Path
) -> None:
    (tmp_path / "cat.png").write_bytes(png_bytes())
    session = CommandContext.open(replace(settings, model="moonshot-v1-8k"), display)
    with pytest.raises(UserError, match=r"moonshot-v1-8k takes no pictures: /model moonshot-v1-8k-vision-preview"):
        registry.dispatch(session, f"/image {tmp_path / 'cat.png'}")
    session.chat.set_model("kimi-k2.6")
    registry.dispatch(session, f"/image {tmp_path / 'cat.png'}")
    session.chat.set_model("kimi-k3")  # switched after attaching: refused when sending, nothing sent
    assert session.chat.send("look") is None
    assert "kimi-k3 takes no pictures" in display.output and server.chat_requests() == []
    registry.dispatch(session, "/image clear")
    assert session.chat.attachments == [] and session.chat.send("look") is not None


def test_files_that_are_not_pictures_are_refused(
    registry: CommandRegistry, session: CommandContext, tmp_path: Path
) -> None:
    (tmp_path / "fake.png").write_text("not a picture at all")
    with pytest.raises(UserError, match="not a PNG, JPEG, WebP or GIF picture"):
        registry.dispatch(session, f"/image {tmp_path / 'fake.png'}")
    big = tmp_path / "big.png"
    big.write_bytes(png_bytes() + b"\x00" * 11 * 1024 * 1024)
    with pytest.raises(UserError, match="too big"):
        registry.dispatch(session, f"/image {big}")
    with pytest.raises(UserError, match="is a device"):
        registry.dispatch(session, "/image /dev/zero")
    assert session.chat.attachments == []


# -- the editor ------------------------------------------------------------------------------------


def editor_script(tmp_path: Path, body: str) -> str:
    script = tmp_path / "editor.sh"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_the_editor_returns_what_was_saved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDITOR", editor_script(tmp_path, 'printf "%s\\nadded\\n" "$(cat "$1")" > "$1"'))
    monkeypatch.delenv("VISUAL", raising=False)
    assert edit("draft 中文") == "draft 中文\nadded"


def test_visual_wins_and_a_failing_editor_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDITOR", editor_script(tmp_path, 'echo from-editor > "$1"'))
    monkeypatch.setenv("VISUAL", "false")
    with pytest.raises(EditorError, match="ended with status 1"):
        edit("keep me")
    monkeypatch.setenv("VISUAL", "/no/such/editor --wait")
    with pytest.raises(EditorError, match="cannot start the editor"):
        edit("keep me")
    monkeypatch.setenv("VISUAL", "'unclosed")
    with pytest.raises(EditorError, match="not a command line"):
        edit("keep me")


def test_without_any_editor_it_says_how_to_set_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.delenv("EDITOR", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(EditorError, match=r"set \$EDITOR"):
        edit("x")


# -- the config file and roles --------------------------------------------------------------------


def write_config(home: Path, text: str) -> Path:
    path = home / ".config" / "kimi-repl" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


CONFIG = """
model = "moonshot-v1-32k"
temperature = 0.2
system = "Be brief."
base_url = "http://127.0.0.1:9/v1"
thinking = false
web = true
max_tokens = 4000
timeout = 30
max_retries = 1

[roles.translator]
system = "Translate into English."
model = "moonshot-v1-8k"
temperature = 0.1

[roles.deep]
thinking = true
"""


def test_the_config_file_gives_defaults_below_everything_else(isolated_user: Path) -> None:
    write_config(isolated_user, CONFIG)
    settings = load_settings(environ={"MOONSHOT_API_KEY": "sk-x"}, dotenv={})
    assert (settings.model, settings.temperature, settings.system) == ("moonshot-v1-32k", 0.2, "Be brief.")
    assert (settings.base_url, settings.thinking, settings.web) == ("http://127.0.0.1:9/v1", False, True)
    assert (settings.max_tokens, settings.timeout, settings.max_retries) == (4000, 30.0, 1)
    above = load_settings(
        environ={"MOONSHOT_API_KEY": "sk-x", "MOONSHOT_MODEL": "kimi-k2.5", "MOONSHOT_TIMEOUT": "5"},
        dotenv={"MOONSHOT_MAX_TOKENS": "900", "MOONSHOT_MODEL": "kimi-k3"},
        temperature=0.9,
    )
    assert (above.model, above.timeout, above.max_tokens, above.temperature) == ("kimi-k2.5", 5.0, 900, 0.9)


def test_a_role_sets_what_no_flag_sets(isolated_user: Path) -> None:
    write_config(isolated_user, CONFIG)
    settings = load_settings(role="translator", environ={"MOONSHOT_API_KEY": "sk-x"}, dotenv={})
    assert (settings.model, settings.temperature, settings.system) == ("moonshot-v1-8k", 0.1, "Translate into English.")
    flagged = load_settings(role="translator", model="kimi-k2.6", environ={"MOONSHOT_API_KEY": "sk-x"}, dotenv={})
    assert flagged.model == "kimi-k2.6" and flagged.temperature == 0.1
    with pytest.raises(ConfigError, match=r"no role 'nope' in the config file \(roles: deep, translator\)"):
        load_settings(role="nope", environ={"MOONSHOT_API_KEY": "sk-x"}, dotenv={})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('model = "kimi-k2.6"\ntemperature = 3\n', "line 2: Temperature must be between 0 and 1"),
        ('model = "kimi\n', "Illegal character"),
        ('modle = "kimi-k2.6"\n', "line 1: unknown setting 'modle'"),
        ('\n\n[roles.a]\ntemperature = "hot"\n', "line 4: Temperature must be a number"),
        ('[roles.a]\ncolour = "red"\n', "line 2: unknown setting 'colour' in role 'a'"),
        ("max_tokens = 1.5\n", "line 1: max_tokens must be a whole number"),
        ('model = "kimi k2"\n', "line 1: model: A model name cannot contain a space"),
        ('web = "sometimes"\n', "line 1: web takes on or off"),
        ('base_url = "ftp://x"\n', "line 1: base_url must be an http"),
        ("roles = 3\n", "roles must be tables"),
    ],
)
def test_a_broken_config_file_is_one_line_naming_the_file_and_the_line(
    isolated_user: Path, text: str, message: str
) -> None:
    path = write_config(isolated_user, text)
    with pytest.raises(ConfigError) as caught:
        read_config()
    assert str(caught.value).startswith(str(path)) and message in str(caught.value)
    assert "\n" not in str(caught.value)


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


def test_no_config_file_is_no_config(isolated_user: Path) -> None:
    assert read_config() == ConfigFile()


# -- finding and deleting sessions -----------------------------------------------------------------


def make_sessions(settings: Settings, texts: list[list[str]]) -> list[CommandContext]:
    made = []
    for messages in texts:
        session = saved(settings, CapturedDisplay(), model="moonshot-v1-8k")
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
    here = saved(settings, display)
    here.chat.send("open here")
    here.state.confirm = lambda question: True
    with pytest.raises(CommandError, match="the session open here"):
        registry.dispatch(here, "/sessions delete 1")
    other = CommandContext.open(settings, CapturedDisplay(), store=store)
    other.state.confirm = lambda question: True
    with pytest.raises(UserError, match="open in another kimi-repl"):
        registry.dispatch(other, "/sessions delete 1")


# -- /copy code ------------------------------------------------------------------------------------


def test_copy_code_copies_the_nth_code_block_clean(settings: Settings, server: FakeMoonshot) -> None:
    display = CapturedDisplay(terminal=True)
    session = CommandContext.open(replace(settings, thinking=False), display)
    registry = build_registry()
    server.script(Script(text="One:\n\n```python\nprint(1)\n```\n\nTwo:\n\n```sh\necho \x1b[201~two\n```\n"))
    session.chat.send("code please")

    def copied() -> str:
        payloads = re.findall(r"\x1b\]52;c;([A-Za-z0-9+/=]*)\x07", display.output)
        return base64.b64decode(payloads[-1]).decode()

    registry.dispatch(session, "/copy code")
    assert copied() == "echo [201~two\n"
    registry.dispatch(session, "/copy code 1")
    assert copied() == "print(1)\n"
    with pytest.raises(CommandError, match="from 1 to 2"):
        registry.dispatch(session, "/copy code 3")
    with pytest.raises(CommandError, match="'code' or 'code N'"):
        registry.dispatch(session, "/copy everything")


def test_private_files_stay_private(isolated_user: Path) -> None:  # the config folder is the user's own
    path = write_config(isolated_user, CONFIG)
    assert stat.S_ISREG(os.stat(path).st_mode)
