"""Copying out: the system clipboard through the platform's own tool (pbcopy, clip, wl-copy, xclip, xsel),
beside the terminal's OSC 52 (which many terminals and tmux ignore by default)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

TOOL_SECONDS = 3.0


def platform_tools() -> list[tuple[list[str], str]]:
    """The commands that may set the clipboard here, best first, each with the encoding it reads."""
    if os.environ.get("SSH_CONNECTION"):  # the clipboard of the machine logged into is not the user's
        return []
    if sys.platform == "darwin":
        return [(["pbcopy"], "utf-8")]
    if sys.platform == "win32":
        return [(["clip"], "utf-16")]  # with a byte-order mark, clip takes any character
    tools: list[tuple[list[str], str]] = []
    if os.environ.get("WAYLAND_DISPLAY"):
        tools.append((["wl-copy"], "utf-8"))
    if os.environ.get("DISPLAY"):
        tools += [(["xclip", "-selection", "clipboard"], "utf-8"), (["xsel", "--clipboard", "--input"], "utf-8")]
    return tools


def copy_with_platform_tool(text: str) -> str | None:
    """Put ``text`` (already made safe) in the system clipboard; the tool's name, or None when none worked."""
    for command, encoding in platform_tools():
        path = shutil.which(command[0])
        if path is None:
            continue
        environment = {**os.environ, "LANG": os.environ.get("LANG") or "en_US.UTF-8"}  # pbcopy reads the locale
        try:
            done = subprocess.run(
                [path, *command[1:]],
                input=text.encode(encoding, errors="replace"),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=environment,
                timeout=TOOL_SECONDS,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if done.returncode == 0:
            return command[0]
    return None
