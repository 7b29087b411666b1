"""The installed ``kimi-repl`` in a real pseudo-terminal, read back through a terminal emulator (pyte).

What a test sees is what a person would see: the screen after every escape sequence has been applied,
plus the lines that scrolled off the top. A wait that times out fails with that screen and the raw log.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pexpect
import pyte

ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")


def installed_command() -> str:
    """The ``kimi-repl`` script installed beside this Python (the venv the tests run in), or on PATH."""
    beside = Path(sys.executable).parent / "kimi-repl"
    found = str(beside) if beside.exists() else shutil.which("kimi-repl")
    if found is None:
        raise RuntimeError("kimi-repl is not installed: run pip install '.[test]' first")
    return found


class _Screen(pyte.HistoryScreen):
    """A screen that answers the terminal's reports (cursor position) back to the program, as xterm does."""

    def __init__(self, cols: int, rows: int, reply: Callable[[str], object]) -> None:
        super().__init__(cols, rows, history=5000)
        self._reply = reply

    def write_process_input(self, data: str) -> None:
        self._reply(data)


class Terminal:
    """One ``kimi-repl`` process in a pty of ``rows`` x ``cols``."""

    def __init__(
        self,
        args: list[str],
        env: Mapping[str, str],
        *,
        cwd: Path,
        rows: int = 40,
        cols: int = 100,
        preexec: Callable[[], None] | None = None,
    ) -> None:
        self.child = pexpect.spawn(
            installed_command(),
            args,
            env=dict(env),
            cwd=str(cwd),
            dimensions=(rows, cols),
            echo=False,
            preexec_fn=preexec,
        )
        self.screen = _Screen(cols, rows, self.child.send)
        self.stream = pyte.ByteStream(self.screen)
        self.raw = bytearray()

    # -- reading ------------------------------------------------------------------------------
    def _pump(self, timeout: float) -> None:
        try:
            data = self.child.read_nonblocking(65536, timeout=timeout)
        except pexpect.TIMEOUT:
            return
        except pexpect.EOF:
            time.sleep(timeout)
            return
        self.raw.extend(data)
        self.stream.feed(data)

    def lines(self) -> list[str]:
        """Every line shown so far: the scrolled-off ones, then the screen, right-trimmed."""
        width = self.screen.columns
        history = ["".join(line[x].data for x in range(width)).rstrip() for line in self.screen.history.top]
        return history + [line.rstrip() for line in self.screen.display]

    def text(self) -> str:
        return "\n".join(self.lines())

    def log(self) -> str:
        """The raw output without escape sequences, for failure messages."""
        return ANSI.sub("", self.raw.decode("utf-8", "replace"))

    def wait_for(self, condition: str | Callable[[str], bool], timeout: float = 15.0) -> str:
        """Read output until ``condition`` (a substring, or a test of the text) holds; return the text."""
        test = condition if callable(condition) else (lambda text: condition in text or condition in _unwrapped(text))
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            if test(text):
                return text
            if not self.child.isalive():
                self.drain()
                text = self.text()
                if test(text):
                    return text
                self._fail(f"kimi-repl exited waiting for {condition!r}")
            if time.monotonic() > deadline:
                self._fail(f"timed out waiting for {condition!r}")
            self._pump(0.05)

    def _fail(self, why: str) -> None:
        raise AssertionError(
            f"{why}\n--- screen ---\n{self.text().rstrip()}\n--- raw log (tail) ---\n{self.log()[-3000:]}"
        )

    def drain(self) -> None:
        """Read whatever the program wrote before it ended."""
        while True:
            try:
                data = self.child.read_nonblocking(65536, timeout=0.2)
            except (pexpect.TIMEOUT, pexpect.EOF):
                return
            self.raw.extend(data)
            self.stream.feed(data)

    def wait_for_prompt(self, count: int, timeout: float = 15.0) -> None:
        """Wait until the input prompt has been shown ``count`` times (the REPL is ready for the next line)."""
        self.wait_for(lambda text: text.count(" ›") >= count, timeout)
        self.settle()

    def settle(self, quiet: float = 0.3) -> None:
        """Read until the program has been silent for ``quiet`` seconds."""
        while True:
            before = len(self.raw)
            self._pump(quiet)
            if len(self.raw) == before:
                return

    # -- typing -------------------------------------------------------------------------------
    def type(self, text: str) -> None:
        self.child.send(text.encode())

    def line(self, text: str) -> None:
        """Type ``text`` and press Enter."""
        self.type(text + "\r")

    def ctrl(self, key: str) -> None:
        self.child.sendcontrol(key)

    # -- ending -------------------------------------------------------------------------------
    def exit_status(self, timeout: float = 15.0) -> int:
        """Wait for the process to end and return its exit status."""
        deadline = time.monotonic() + timeout
        while self.child.isalive() and time.monotonic() < deadline:
            self._pump(0.05)
        self.drain()
        if self.child.isalive():
            self.child.terminate(force=True)
            raise AssertionError(f"kimi-repl did not exit\n--- screen ---\n{self.text()}")
        self.child.close()
        status = self.child.exitstatus
        assert status is not None, f"kimi-repl was killed by signal {self.child.signalstatus}"
        return int(status)

    def close(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)


def _unwrapped(text: str) -> str:
    """``text`` with each line joined to the next by a space: a notice that wrapped between words reads whole."""
    return re.sub(r" *\n *", " ", text)


def clean_environment(home: Path, **values: str) -> dict[str, str]:
    """An environment with only what a fresh user has, plus ``values``."""
    keep = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update({"HOME": str(home), "TERM": "xterm-256color", "LANG": env.get("LANG", "C.UTF-8")})
    env.update(values)
    return env
