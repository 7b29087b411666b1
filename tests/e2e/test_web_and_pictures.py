"""End to end, in a pty: web search and pictures."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from tests.fake import FakeMoonshot
from tests.helpers import Launch, clipboard_tool, png_bytes


def test_a_web_search_round_trip_then_web_off(launch: Launch, server: FakeMoonshot) -> None:
    term = launch("--web", "--thinking", "off")
    term.wait_for("web search on")
    term.wait_for_prompt(1)
    term.line("weather in Beijing")
    term.wait_for("⌕ Searching the web for “weather in Beijing”")
    term.wait_for("Echo 1: weather in Beijing")
    term.wait_for("1 web search")
    term.wait_for_prompt(2)
    assert server.chat_requests()[-1]["messages"][-1]["role"] == "tool"
    term.line("/web off")
    term.wait_for("Web search: off")
    term.line("no search now")
    term.wait_for("Echo 2: no search now")
    assert "tools" not in server.chat_requests()[-1]


def test_a_picture_on_a_vision_model_and_on_a_text_only_one(
    launch: Launch, server: FakeMoonshot, tmp_path: Path
) -> None:
    (tmp_path / "work" / "cat.png").write_bytes(png_bytes())
    term = launch("-m", "moonshot-v1-8k")
    term.wait_for_prompt(1)
    term.line("/image cat.png")
    term.wait_for("moonshot-v1-8k takes no pictures: /model moonshot-v1-8k-vision-preview does.")
    term.wait_for_prompt(2)
    term.line("/model kimi-k2.6")
    term.wait_for("kimi-k2.6 ›")
    term.line("/image cat.png")
    term.wait_for("Attached cat.png (image/png")
    term.line("what is it?")
    term.wait_for("Echo 1: what is it? [1 picture]")
    parts = server.chat_requests()[-1]["messages"][-1]["content"]
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,iVBOR")


def test_ctrl_v_attaches_the_clipboards_picture_else_pastes_its_text(
    launch: Launch, server: FakeMoonshot, tmp_path: Path
) -> None:
    tools = tmp_path / "bin"
    clipboard_tool(tools, "xclip", types="TARGETS\nimage/png\nUTF8_STRING\n", picture=png_bytes(), text="no")
    term = launch("-m", "kimi-k2.6", PATH=f"{tools}{os.pathsep}{os.environ['PATH']}", DISPLAY=":0")
    term.wait_for_prompt(1)
    term.ctrl("v")
    term.wait_for("Attached clipboard-1.png (image/png, 57 bytes) to your next message.")
    term.line("what is it?")
    term.wait_for("Echo 1: what is it? [1 picture]")
    parts = server.chat_requests()[-1]["messages"][-1]["content"]
    assert parts == [
        {"type": "text", "text": "what is it?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(png_bytes()).decode()}},
    ]
    term.wait_for_prompt(2)
    clipboard_tool(tools, "xclip", types="TARGETS\nUTF8_STRING\n", text="copied words")
    term.type("say: ")
    term.ctrl("v")
    term.type("!")
    term.wait_for("say: copied words!")
    term.type("\r")
    term.wait_for("Echo 2: say: copied words!")
    assert server.chat_requests()[-1]["messages"][-1]["content"] == "say: copied words!"
