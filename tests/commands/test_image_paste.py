"""/image paste: the clipboard's picture, checked and attached as /image PATH's is, named clipboard-N.png."""

from __future__ import annotations

import base64
import os
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from kimi_repl.commands import CommandRegistry
from kimi_repl.commands.context import CommandContext
from kimi_repl.config import Settings
from kimi_repl.errors import UserError
from kimi_repl.sessions import load_file
from tests.fake import FakeMoonshot
from tests.helpers import CapturedDisplay, clipboard_tool, completions, png_bytes, saved_session, tool_runs


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in xclip first on PATH, on an X11 desktop, holding a PNG."""
    folder = tmp_path / "bin"
    clipboard_tool(folder, "xclip", types="TARGETS\nimage/png\nUTF8_STRING\n", picture=png_bytes(), text="hi")
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DISPLAY", ":0")
    for name in ("WAYLAND_DISPLAY", "SSH_CONNECTION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    return folder


def test_a_pasted_picture_is_named_sent_and_saved(
    tools: Path, registry: CommandRegistry, settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session = saved_session(settings, display, model="kimi-k2.6")
    registry.dispatch(session, "/image paste")
    assert "Attached clipboard-1.png (image/png, 57 bytes) to your next message." in display.output
    registry.dispatch(session, "/image paste")
    registry.dispatch(session, "/image")
    assert "clipboard-2.png  image/png" in display.output
    session.chat.send("what are these?")
    parts = server.chat_requests()[-1]["messages"][-1]["content"]
    encoded = base64.b64encode(png_bytes()).decode()
    assert [part["type"] for part in parts] == ["text", "image_url", "image_url"]
    assert parts[1]["image_url"]["url"] == f"data:image/png;base64,{encoded}"
    registry.dispatch(session, "/image paste")  # numbered after those already sent
    assert "Attached clipboard-3.png" in display.output
    assert session.chat.log is not None
    reloaded, _ = load_file(session.chat.log.path)
    assert [image.name for image in reloaded.turns[0].images] == ["clipboard-1.png", "clipboard-2.png"]
    assert reloaded.turns[0].images[0].data == encoded


def test_what_the_clipboard_holds_is_checked_as_a_file_is(
    tools: Path, registry: CommandRegistry, session: CommandContext
) -> None:
    clipboard_tool(tools, "xclip", types="image/png\n", picture=b"<svg onload=alert(1)>")
    with pytest.raises(UserError, match="The clipboard's picture is not a PNG, JPEG, WebP or GIF picture"):
        registry.dispatch(session, "/image paste")
    clipboard_tool(tools, "xclip", types="image/png\n", picture=png_bytes() + b"\0" * (10 << 20))
    with pytest.raises(UserError, match="The clipboard's picture is over 10 MB"):
        registry.dispatch(session, "/image paste")
    clipboard_tool(tools, "xclip", types="UTF8_STRING\n", text="only words")
    with pytest.raises(UserError, match="The clipboard holds no picture: copy one"):
        registry.dispatch(session, "/image paste")
    assert session.chat.attachments == []


def test_a_model_that_takes_no_pictures_refuses_before_the_clipboard_is_read(
    tools: Path, registry: CommandRegistry, settings: Settings, display: CapturedDisplay
) -> None:
    session = CommandContext.open(replace(settings, model="moonshot-v1-8k"), display)
    with pytest.raises(UserError, match=r"moonshot-v1-8k takes no pictures: /model moonshot-v1-8k-vision-preview"):
        registry.dispatch(session, "/image paste")
    assert tool_runs(tools, "xclip") == []


def test_help_and_completion_know_paste(registry: CommandRegistry, session: CommandContext) -> None:
    registry.dispatch(session, "/help")
    output = session.display.output  # type: ignore[attr-defined]
    assert "/image [PATH|paste|clear]" in output and "Ctrl-V" in output and "clipboard's picture" in output
    assert completions(registry, session, "/image pa") == ["paste"]


def test_pictures_attached_stay_behind_when_another_conversation_becomes_current(
    registry: CommandRegistry, session: CommandContext, display: CapturedDisplay, tmp_path: Path
) -> None:
    """Found by a new user: a screenshot meant for one chat went into the next one, unseen."""
    picture = tmp_path / "red.png"
    picture.write_bytes(png_bytes())
    registry.dispatch(session, f"/image {picture}")
    registry.dispatch(session, "/new")
    assert session.chat.attachments == []
    assert "1 picture waiting for your next message there stayed behind" in display.output
