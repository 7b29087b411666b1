"""End to end: start-up, the banner, --version and --help, a missing key."""

from __future__ import annotations

import re

from tests.fake import FakeMoonshot
from tests.helpers import Launch


def test_no_key_is_one_clear_line_and_status_two(launch: Launch) -> None:
    term = launch(MOONSHOT_API_KEY="")
    assert term.exit_status() == 2
    text = term.log().strip()
    assert "MOONSHOT_API_KEY" in text and "MOONSHOT_API_KEY=sk-..." in text
    assert len(text.splitlines()) == 1


def test_version_and_help(launch: Launch) -> None:
    version = launch("--version")
    assert version.exit_status() == 0
    assert "kimi-repl 0." in version.text()
    usage = launch("--help")
    assert usage.exit_status() == 0
    assert "--temperature" in usage.text() and "MOONSHOT_API_KEY" in usage.text()


def test_the_prompt_shows_before_rich_and_the_sdk_are_loaded(launch: Launch, server: FakeMoonshot) -> None:
    """Start-up: the banner and the prompt are prompt_toolkit's alone; the renderer and the SDK load later."""
    term = launch(PYTHONPROFILEIMPORTTIME="1")  # Python reports each import on standard error, as it happens
    term.wait_for_prompt(1)
    before_prompt = term.log().split(" ›")[0]
    assert "kimi-k2.6 · thinking on · /help" in before_prompt
    imported = {line.split("|")[-1].strip() for line in before_prompt.splitlines() if line.startswith("import time")}
    assert "prompt_toolkit" in imported
    assert not {"rich", "rich.console", "openai", "kimi_repl.render", "kimi_repl.markdown"} & imported
    term.line("a **bold** hello")
    term.wait_for("Echo 1: a bold hello")
    term.wait_for_prompt(2)
    term.line("/exit")
    assert term.exit_status() == 0


def test_a_dumb_terminal_gets_the_banner_without_escape_sequences(launch: Launch) -> None:
    term = launch(TERM="dumb")
    term.wait_for("Ctrl-D quit")
    banner = next(line for line in term.raw.decode("utf-8", "replace").splitlines() if "Ctrl-D quit" in line)
    assert "kimi-repl 0." in banner and not re.search(r"\x1b\[[0-9;]*m", banner)  # no colour, no dim, no reset
    term.line("/exit")
    assert term.exit_status() == 0


def test_a_key_the_server_refuses_is_told_before_the_first_message(launch: Launch, server: FakeMoonshot) -> None:
    """Found by a new user: a wrong key showed only after the first message was typed and sent."""
    term = launch(MOONSHOT_API_KEY="sk-not-the-right-key-0123456789")
    term.wait_for_prompt(1)
    term.wait_for("Moonshot rejected the API key (401", timeout=10)
    assert server.chat_requests() == [], "nothing was sent to find out"
