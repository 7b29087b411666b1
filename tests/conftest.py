"""Shared fixtures: no test touches the real home or the network; each gets a fake Moonshot server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prompt_toolkit.input import PipeInput, create_pipe_input

from kimi_repl.commands import CommandRegistry, build_registry
from kimi_repl.commands.context import CommandContext
from kimi_repl.config import Settings
from tests.fake import TEST_KEY, FakeMoonshot
from tests.helpers import CapturedDisplay, Launch, Terminal, clean_environment

USER_VARIABLES = (
    "MOONSHOT_API_KEY",
    "KIMI_API_KEY",
    "MOONSHOT_BASE_URL",
    "MOONSHOT_MODEL",
    "MOONSHOT_TIMEOUT",
    "MOONSHOT_MAX_RETRIES",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
)


@pytest.fixture(autouse=True)
def isolated_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every user folder at a temporary home and forget the developer's Moonshot settings."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name in USER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return home


@pytest.fixture
def server() -> Iterator[FakeMoonshot]:
    with FakeMoonshot() as fake:
        yield fake
    assert not fake.errors, f"the fake server failed: {fake.errors}"


@pytest.fixture
def settings(server: FakeMoonshot) -> Settings:
    return Settings(api_key=TEST_KEY, base_url=server.base_url, timeout=10.0, max_retries=2)


@pytest.fixture
def display() -> CapturedDisplay:
    return CapturedDisplay()


@pytest.fixture
def session(settings: Settings, display: CapturedDisplay) -> CommandContext:
    return CommandContext.open(settings, display)


@pytest.fixture
def launch(isolated_user: Path, tmp_path: Path, server: FakeMoonshot) -> Iterator[Launch]:
    """Start the installed kimi-repl in a pty; by default pointed at the fake server with the test key.

    ``to=`` points it at another fake server (the older lineup); keyword arguments set environment variables.
    """
    started: list[Terminal] = []

    def start(
        *args: str,
        rows: int = 60,
        cols: int = 100,
        to: FakeMoonshot | None = None,
        preexec: Callable[[], None] | None = None,
        **env: str,
    ) -> Terminal:
        values = {"MOONSHOT_BASE_URL": (to or server).base_url, "MOONSHOT_API_KEY": TEST_KEY, **env}
        values = {name: value for name, value in values.items() if value}
        environment = clean_environment(isolated_user, **values)
        terminal = Terminal(list(args), environment, cwd=tmp_path / "work", rows=rows, cols=cols, preexec=preexec)
        started.append(terminal)
        return terminal

    yield start
    for terminal in started:
        terminal.close()
        assert "Traceback" not in terminal.log(), terminal.log()
        assert TEST_KEY not in terminal.log()


@pytest.fixture
def registry() -> CommandRegistry:
    return build_registry()


@pytest.fixture
def keys() -> Iterator[PipeInput]:
    with create_pipe_input() as pipe:
        yield pipe
