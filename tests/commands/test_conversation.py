"""/history, /undo, /retry and /copy."""

from __future__ import annotations

import base64
import os
import re
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from kimi_repl.commands import CommandError, CommandRegistry, build_registry
from kimi_repl.commands.context import CommandContext
from kimi_repl.config import Settings
from tests.fake import FakeMoonshot, Script
from tests.helpers import CapturedDisplay


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


def test_history_cuts_chinese_by_width(
    registry: CommandRegistry, session: CommandContext, display: CapturedDisplay
) -> None:
    session.chat.send("中文" * 60)
    display.forget()
    registry.dispatch(session, "/history")
    row = next(line for line in display.output.splitlines() if line.startswith("1"))
    assert row.count("中文") == 17 and "…" in row  # 70 columns: 35 characters of two columns each


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


def test_copy_also_uses_the_platform_clipboard_tool_with_the_clean_text(
    settings: Settings, server: FakeMoonshot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where a clipboard tool exists (xclip here, pbcopy on macOS, clip on Windows) it gets the text too, cleaned
    as OSC 52's is; over ssh it is left alone (that clipboard is not the user's)."""
    tools = tmp_path / "bin"
    tools.mkdir()
    copied = tmp_path / "copied"
    (tools / "xclip").write_text(f'#!/bin/sh\ncat > "{copied}"\n')
    (tools / "xclip").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("SSH_CONNECTION", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    display = CapturedDisplay(terminal=True)
    session = CommandContext.open(settings, display)
    server.script(Script(text="look \x1b]0;owned\x07 here \u202e"))
    session.chat.send("hi")
    build_registry().dispatch(session, "/copy")
    assert copied.read_text() == "look ]0;owned here "
    assert "to the clipboard (xclip)." in display.output
    copied.unlink()
    monkeypatch.setenv("SSH_CONNECTION", "10.0.0.1 5 10.0.0.2 22")
    build_registry().dispatch(session, "/copy")
    assert not copied.exists()


def test_copy_copies_what_the_screen_shows_never_the_key(settings: Settings, server: FakeMoonshot) -> None:
    display = CapturedDisplay(terminal=True)
    session = CommandContext.open(replace(settings, thinking=False), display)
    server.script(Script(text=f"ok: please remember {settings.api_key}\n\n```\nexport K={settings.api_key}\n```\n"))
    session.chat.send("remember my key")
    registry = build_registry()
    for line in ("/copy", "/copy code"):
        registry.dispatch(session, line)
        payload = re.findall(r"\x1b\]52;c;([A-Za-z0-9+/=]*)\x07", display.output)[-1]
        copied = base64.b64decode(payload).decode()
        assert settings.api_key not in copied and "[API key removed]" in copied


@pytest.mark.parametrize("line", ["/file a\x00b.pdf", "/image a\x00.png", "/load x\x00.json", "/save x\x00.md"])
def test_a_path_with_a_nul_character_is_one_line(session: CommandContext, line: str) -> None:
    session.chat.send("hi")  # something to save
    with pytest.raises(CommandError, match="A path cannot hold a NUL character"):
        build_registry().dispatch(session, line)
