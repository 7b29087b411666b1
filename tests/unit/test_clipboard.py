"""Reading the clipboard: each platform's tool, stood in for by a script first on PATH; a tool that hangs, fails,
says too much or is missing ends in one line, never a traceback."""

from __future__ import annotations

import base64
import os
import re
import shutil
import sys
import time
from pathlib import Path

import pytest

from kimi_repl.clipboard import ClipboardError, Held, clipboard_paste, clipboard_picture, read_clipboard, reading
from tests.helpers import clipboard_tool, png_bytes, tool_runs


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder first on PATH, on a Linux desktop with no display yet, not over ssh."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    for name in ("WAYLAND_DISPLAY", "DISPLAY", "SSH_CONNECTION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    return folder


def test_wayland_lists_the_types_then_reads_the_picture(tools: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    clipboard_tool(tools, "wl-paste", types="text/html\nimage/jpeg\nimage/png\n", picture=png_bytes())
    assert clipboard_picture() == png_bytes()
    assert tool_runs(tools, "wl-paste") == ["--list-types", "--no-newline --type image/png"]


def test_wayland_text_when_there_is_no_picture(tools: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    clipboard_tool(tools, "wl-paste", types="text/plain;charset=utf-8\nUTF8_STRING\n", text="中文 text")
    assert read_clipboard(text=True) == Held(text="中文 text")
    assert read_clipboard() == Held()  # /image paste asks for no text
    with pytest.raises(ClipboardError, match="holds no picture: copy one"):
        clipboard_picture()


def test_x11_asks_xclip_for_targets_then_the_picture(tools: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":0")
    clipboard_tool(tools, "xclip", types="TARGETS\nimage/png\nUTF8_STRING\n", picture=png_bytes(), text="hi")
    assert clipboard_paste() == Held(picture=png_bytes())
    runs = tool_runs(tools, "xclip")
    assert runs == ["-selection clipboard -t TARGETS -o", "-selection clipboard -t image/png -o"]


def test_x11_text_and_an_empty_clipboard(tools: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":0")
    clipboard_tool(tools, "xclip", types="TARGETS\nUTF8_STRING\n", text="plain words")
    assert clipboard_paste() == Held(text="plain words")
    clipboard_tool(tools, "xclip", status=1)  # xclip: "target TARGETS not available"
    with pytest.raises(ClipboardError, match="The clipboard holds no picture and no text"):
        clipboard_paste()


def test_a_desktop_under_xwayland_without_wl_paste_uses_xclip(tools: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setenv("PATH", str(tools))  # no wl-paste anywhere
    clipboard_tool(tools, "xclip", types="image/png\n", picture=png_bytes())
    assert clipboard_picture() == png_bytes()


@pytest.mark.parametrize(
    ("display", "message"),
    [
        ({"WAYLAND_DISPLAY": "wayland-0"}, "on Wayland needs wl-paste: install wl-clipboard."),
        ({"DISPLAY": ":0"}, "on X11 needs xclip: install it."),
        ({}, "No desktop session here (neither WAYLAND_DISPLAY nor DISPLAY is set)"),
        ({"SSH_CONNECTION": "10.0.0.1 5 10.0.0.2 22"}, "Over ssh the clipboard here is not your computer's"),
    ],
)
def test_no_tool_or_no_display_is_one_line(
    tools: Path, monkeypatch: pytest.MonkeyPatch, display: dict[str, str], message: str
) -> None:
    monkeypatch.setenv("PATH", str(tools))  # empty: none of the tools
    for name, value in display.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ClipboardError, match=re.escape(message)):
        clipboard_paste()


def test_over_ssh_with_a_forwarded_x_display_the_clipboard_is_the_users(
    tools: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSH_CONNECTION", "10.0.0.1 5 10.0.0.2 22")
    monkeypatch.setenv("DISPLAY", "localhost:10.0")
    clipboard_tool(tools, "xclip", types="image/png\n", picture=png_bytes())
    assert clipboard_picture() == png_bytes()


def test_macos_osascript_hex_is_decoded(tools: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}/usr/bin{os.pathsep}/bin")  # the machine's own: no pngpaste
    clipboard_tool(tools, "osascript", text=f"«data PNGf{png_bytes().hex().upper()}»\n")
    assert clipboard_picture() == png_bytes()
    assert tool_runs(tools, "osascript") == ["-e the clipboard as «class PNGf»"]


def test_macos_text_from_pbpaste_when_osascript_finds_no_picture(tools: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    clipboard_tool(tools, "osascript", status=1)  # "Can't make some data into the expected type"
    clipboard_tool(tools, "pbpaste", text="copied on a Mac")
    assert clipboard_paste() == Held(text="copied on a Mac")


def test_macos_prefers_pngpaste(tools: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    clipboard_tool(tools, "pngpaste", text=png_bytes())
    clipboard_tool(tools, "osascript", status=1)
    assert clipboard_picture() == png_bytes()
    assert tool_runs(tools, "pngpaste") == ["-"] and tool_runs(tools, "osascript") == []


@pytest.mark.parametrize(
    ("answer", "held"),
    [
        (b"picture:" + base64.b64encode(png_bytes()) + b"\r\n", Held(picture=png_bytes())),
        (b"text:" + base64.b64encode("Windows 文字".encode()) + b"\r\n", Held(text="Windows 文字")),
        (b"", None),
        (b"picture:not base64!", None),
    ],
)
def test_windows_powershell_answers_in_base64(
    tools: Path, monkeypatch: pytest.MonkeyPatch, answer: bytes, held: Held | None
) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("PATHEXT", ".exe")  # as on Windows: which("powershell") finds powershell.exe
    clipboard_tool(tools, "powershell.exe", text=answer)
    if held is None:
        with pytest.raises(ClipboardError, match="holds no picture and no text"):
            clipboard_paste()
    else:
        assert clipboard_paste() == held
    (run,) = tool_runs(tools, "powershell.exe")
    assert run.startswith("-NoProfile -NonInteractive -STA -Command $want=$true;Add-Type")


def test_a_tool_that_hangs_is_stopped(tools: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reading, "READ_SECONDS", 0.5)
    monkeypatch.setenv("DISPLAY", ":0")
    clipboard_tool(tools, "xclip", types="image/png\n", hang=True)
    started = time.monotonic()
    with pytest.raises(ClipboardError, match=r"xclip did not answer within 0.5 seconds: it was stopped."):
        clipboard_picture()
    assert time.monotonic() - started < 3  # its sleeping child was stopped too: nothing held the pipe open


def test_a_tool_that_says_too_much_is_cut_off(tools: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(reading.LIMITS, "picture", 1 << 20)
    monkeypatch.setenv("DISPLAY", ":0")
    clipboard_tool(tools, "xclip", types="image/png\n", picture=png_bytes() + b"\0" * (3 << 20))
    with pytest.raises(ClipboardError, match="The clipboard's picture is over 1 MB: nothing was taken from it"):
        clipboard_picture()


def test_a_tool_that_lists_a_picture_and_then_fails(tools: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    clipboard_tool(tools, "wl-paste", types="image/png\n")
    (tools / "wl-paste").write_text('#!/bin/sh\n[ "$1" = --list-types ] && echo image/png && exit 0\nexit 1\n')
    with pytest.raises(ClipboardError, match="wl-paste listed a picture in the clipboard but could not give it"):
        clipboard_picture()


def test_a_tool_that_cannot_run(tools: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":0")
    (tools / "xclip").write_bytes(b"\x7fELF not really")
    (tools / "xclip").chmod(0o755)
    with pytest.raises(ClipboardError, match=r"xclip could not be run \(Exec format error\)."):
        clipboard_picture()


@pytest.mark.skipif(shutil.which("setsid") is None, reason="needs setsid")
def test_a_tool_whose_helper_keeps_the_pipe_open_does_not_hold_the_prompt(
    tools: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tool exits at once, but a child it started in a session of its own keeps its output open: killing the
    tool's group does not reach it, so the read is given up on."""
    monkeypatch.setattr(reading, "READ_SECONDS", 0.5)
    monkeypatch.setenv("DISPLAY", ":0")
    tool = tools / "xclip"
    tool.write_text('#!/bin/sh\ncase "$*" in *TARGETS*) echo image/png; exit 0;; esac\nsetsid sleep 4 &\nexit 0\n')
    tool.chmod(0o755)
    started = time.monotonic()
    with pytest.raises(ClipboardError, match=r"did not answer within 0\.5 seconds"):
        clipboard_picture()
    assert time.monotonic() - started < 3
