"""Ctrl-V at the prompt: the clipboard's picture is attached to the message, else its text is pasted; a
clipboard that cannot be read is one line, and the prompt goes on."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from prompt_toolkit.input import PipeInput

from kimi_repl.commands.context import CommandContext
from tests.fake import FakeMoonshot
from tests.helpers import (
    CTRL_D,
    ENTER,
    CapturedDisplay,
    bracketed,
    clipboard_tool,
    png_bytes,
    run_repl,
    type_when,
    user_messages,
)

CTRL_V = "\x16"


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder first on PATH, on a Wayland desktop (its wl-paste is written by each test)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    for name in ("DISPLAY", "SSH_CONNECTION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    return folder


def test_ctrl_v_attaches_the_picture_to_the_next_message(
    tools: Path, session: CommandContext, keys: PipeInput, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    clipboard_tool(tools, "wl-paste", types="image/png\ntext/plain\n", picture=png_bytes(), text="not this")
    session.chat.choose(model="kimi-k2.6")
    run_repl(session, keys, CTRL_V + "what is it?" + ENTER + CTRL_D)
    content = server.chat_requests()[-1]["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "what is it?"}  # the text was not pasted
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,iVBOR")
    assert session.chat.conversation.turns[0].images[0].name == "clipboard-1.png"
    assert "Echo 1: what is it? [1 picture]" in display.output


def test_ctrl_v_says_it_attached_the_picture(
    tools: Path, session: CommandContext, keys: PipeInput, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    clipboard_tool(tools, "wl-paste", types="image/png\n", picture=png_bytes())
    type_when(keys, lambda: "Attached" in display.output, "and this?" + ENTER + CTRL_D)
    run_repl(session, keys, CTRL_V)
    assert "Attached clipboard-1.png (image/png, 57 bytes) to your next message." in display.output
    assert "Echo 1: and this? [1 picture]" in display.output


def test_ctrl_v_pastes_text_where_the_cursor_is_as_a_bracketed_paste_does(
    tools: Path, session: CommandContext, keys: PipeInput, server: FakeMoonshot
) -> None:
    clipboard_tool(tools, "wl-paste", types="text/plain;charset=utf-8\n", text="pasted\r\nlines")
    typed = "before " + CTRL_V + " after" + ENTER
    typed += "then " + bracketed("a\r\nb") + ENTER  # the terminal's own paste, as before
    run_repl(session, keys, typed + CTRL_D)
    assert user_messages(server) == ["before pasted\nlines after", "then a\nb"]
    big = "x" * 200_000  # asked about, as a big bracketed paste is
    clipboard_tool(tools, "wl-paste", types="text/plain\n", text=big)
    session.state.exit_requested = False  # a second session at the same prompt
    run_repl(session, keys, "big: " + CTRL_V + "q" + "y" + ENTER + CTRL_D)  # q: other keys wait for y or n
    assert user_messages(server)[-1] == "big: " + big


def test_a_clipboard_that_cannot_be_read_is_one_line_and_the_prompt_goes_on(
    tools: Path,
    session: CommandContext,
    keys: PipeInput,
    server: FakeMoonshot,
    display: CapturedDisplay,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WAYLAND_DISPLAY")
    type_when(keys, lambda: "No desktop session" in display.output, "still here" + ENTER + CTRL_D)
    run_repl(session, keys, "kept " + CTRL_V)
    assert "No desktop session here (neither WAYLAND_DISPLAY nor DISPLAY is set)" in display.output
    assert user_messages(server) == ["kept still here"]
    assert "Traceback" not in display.output


def test_a_picture_a_model_cannot_take_is_refused_in_one_line(
    tools: Path, session: CommandContext, keys: PipeInput, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    clipboard_tool(tools, "wl-paste", types="image/png\n", picture=png_bytes())
    session.chat.choose(model="moonshot-v1-8k")
    type_when(keys, lambda: "takes no pictures" in display.output, "words only" + ENTER + CTRL_D)
    run_repl(session, keys, CTRL_V)
    assert "moonshot-v1-8k takes no pictures: /model moonshot-v1-8k-vision-preview does." in display.output
    assert user_messages(server) == ["words only"]
