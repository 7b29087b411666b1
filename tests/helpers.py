"""Shared test helpers: the installed ``kimi-repl`` in a pty read through pyte (:class:`Terminal`), a captured
display, and the helpers several test files use (pictures, interrupts, sessions, configs).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

import pexpect
import pyte
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.input import PipeInput
from prompt_toolkit.output import DummyOutput
from rich.console import Console

import kimi_repl
from kimi_repl import interrupts
from kimi_repl.commands import CommandRegistry, SlashCompleter, build_registry
from kimi_repl.commands.context import CommandContext
from kimi_repl.config import Settings, sessions_dir
from kimi_repl.conversation import Conversation
from kimi_repl.display import Display
from kimi_repl.repl import Repl
from kimi_repl.sessions import SessionStore, load_file
from tests.fake import TEST_KEY, FakeMoonshot

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
    keep = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR", "PYTHONPATH")  # PYTHONPATH: a checkout under test
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update({"HOME": str(home), "TERM": "xterm-256color", "LANG": env.get("LANG", "C.UTF-8")})
    env.update(values)
    return env


class CapturedDisplay(Display):
    """A display writing to a string, as a terminal (markdown) or as a pipe (plain text)."""

    def __init__(self, *, terminal: bool = False, width: int = 100, height: int = 40) -> None:
        self.buffer = io.StringIO()
        console = Console(
            file=self.buffer,
            force_terminal=terminal,
            width=width,
            height=height,
            highlight=False,
            color_system="truecolor" if terminal else None,
        )
        super().__init__(console, console)

    @property
    def output(self) -> str:
        return self.buffer.getvalue()

    def forget(self) -> None:
        """Drop what was shown so far."""
        self.buffer.seek(0)
        self.buffer.truncate()


Launch = Callable[..., Terminal]


def screen_of(output: str, width: int = 100, height: int = 60) -> list[str]:
    """What a terminal shows after receiving ``output`` through a tty (which turns LF into CR LF)."""
    screen = pyte.Screen(width, height)
    pyte.Stream(screen).feed(output.replace("\n", "\r\n"))
    return [line.rstrip() for line in screen.display]


PACKAGE = str(Path(kimi_repl.__file__).parent)


Location = tuple[str, int]


class InterruptAt:
    """A trace function that delivers an interrupt at the ``at``-th line run in kimi-repl's own code (0: never),
    and records where each line was."""

    def __init__(self, at: int = 0) -> None:
        self.at = at
        self.lines: list[Location] = []
        self.fired = False

    def __call__(self, frame: FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        if event == "call":
            return self if frame.f_code.co_filename.startswith(PACKAGE) else None
        if event == "line" and not self.fired:
            self.lines.append((frame.f_code.co_filename, frame.f_lineno))
            if len(self.lines) == self.at:
                self.fired = True
                interrupts.deliver()  # raises here, or is held until the conversation and its file agree
        return self


def traced(action: Callable[[], object], tracer: InterruptAt) -> bool:
    """Run ``action`` under ``tracer``; whether a KeyboardInterrupt came out of it. Afterwards nothing is held:
    the next Ctrl-C works as Python's own."""
    sys.settrace(tracer)
    try:
        action()
    except KeyboardInterrupt:
        return True
    finally:
        sys.settrace(None)
        assert interrupts._state.depth == 0 and interrupts.may_raise(), tracer.lines[-1:]
    return False


def saved_session(settings: Settings, display: CapturedDisplay, **changes: Any) -> CommandContext:
    return CommandContext.open(replace(settings, **changes), display, store=SessionStore(sessions_dir(), secret=None))


def png_bytes() -> bytes:
    import struct

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))


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


def session_on(server: FakeMoonshot, display: CapturedDisplay, **settings: Any) -> CommandContext:
    values = Settings(api_key=TEST_KEY, base_url=server.base_url, timeout=10.0, max_retries=0)
    return CommandContext.open(replace(values, **settings), display)


def sent(server: FakeMoonshot) -> list[dict[str, object]]:
    return server.chat_requests()[-1]["messages"]  # type: ignore[no-any-return]


def completions(registry: CommandRegistry, session: CommandContext, text: str) -> list[str]:
    completer = SlashCompleter(registry, session)
    return [c.text for c in completer.get_completions(Document(text), CompleteEvent(completion_requested=True))]


ENTER = "\r"


ALT_ENTER = "\x1b\r"


CTRL_C = "\x03"


CTRL_D = "\x04"


UP = "\x1b[A"


TAB = "\t"


def run_repl(session: CommandContext, keys: PipeInput, typed: str, **kw: object) -> int:
    """Type ``typed`` into a fresh REPL and run it until it exits (more than a pipe holds is typed from a
    thread, as the REPL reads it)."""
    repl = Repl(session, build_registry(), input=keys, output=DummyOutput(), **kw)  # type: ignore[arg-type]
    if len(typed) < 32_000:
        keys.send_text(typed)
        return repl.run()
    typist = threading.Thread(target=keys.send_text, args=(typed,), daemon=True)
    typist.start()
    status = repl.run()
    typist.join()
    return status


def user_messages(server: FakeMoonshot) -> list[str]:
    return [body["messages"][-1]["content"] for body in server.chat_requests()]


def type_when(keys: PipeInput, ready: Callable[[], bool], text: str) -> threading.Thread:
    """Type ``text`` once ``ready()`` holds and the next prompt has had a moment to appear, as a person would."""

    def wait_then_type() -> None:
        deadline = time.monotonic() + 10
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        keys.send_text(text)

    typist = threading.Thread(target=wait_then_type, daemon=True)
    typist.start()
    return typist


def bracketed(text: str) -> str:
    return "\x1b[200~" + text + "\x1b[201~"


def session_files(home: Path) -> list[Path]:
    folder = home / ".local" / "share" / "kimi-repl" / "sessions"
    return sorted(folder.glob("*.jsonl")) if folder.exists() else []


def loaded(path: Path) -> Conversation:
    conversation, _ = load_file(path)
    roles = [turn.role for turn in conversation.turns]
    assert roles == ["user", "assistant"] * (len(roles) // 2), roles
    return conversation


def one_shot(
    home: Path, server: FakeMoonshot, *args: str, stdin: str | bytes | None = None, **env: str
) -> subprocess.CompletedProcess[bytes]:
    environment = clean_environment(home, MOONSHOT_BASE_URL=server.base_url, MOONSHOT_API_KEY=TEST_KEY)
    environment.update(env)
    data = stdin.encode() if isinstance(stdin, str) else stdin
    return subprocess.run(
        [installed_command(), *args],
        input=data,
        stdin=None if data is not None else subprocess.DEVNULL,
        capture_output=True,
        env=environment,
        cwd=home.parent / "work",
        timeout=60,
    )


def clipboard_tool(
    folder: Path,
    name: str,
    *,
    types: str = "",
    picture: bytes = b"",
    text: str | bytes = "",
    status: int = 0,
    hang: bool = False,
) -> Path:
    """A stand-in clipboard tool (``wl-paste``, ``xclip``, ``osascript``, ``powershell``…) in ``folder``.

    Asked for its types (``--list-types``, ``-t TARGETS``) it prints ``types``; for an ``image/...`` type,
    ``picture``; for anything else, ``text``; then it exits with ``status``. ``hang``: it waits first, in a
    child of its own (as a stuck tool would). Each run's arguments are added to ``folder/<name>.log``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.types").write_text(types)
    (folder / f"{name}.picture").write_bytes(picture)
    (folder / f"{name}.text").write_bytes(text.encode() if isinstance(text, str) else text)
    base = f"{folder}/{name}"
    script = f"""#!/bin/sh
PATH=/usr/bin:/bin:$PATH
echo "$*" >> "{base}.log"
{"sleep 30" if hang else ""}
for word in "$@"; do
  case "$word" in
    --list-types|TARGETS) cat "{base}.types"; exit {status};;
    image/*) cat "{base}.picture"; exit {status};;
  esac
done
cat "{base}.text"
exit {status}
"""
    tool = folder / name
    tool.write_text(script)
    tool.chmod(0o755)
    return tool


def tool_runs(folder: Path, name: str) -> list[str]:
    """The arguments of each run of the stand-in tool ``name`` (see :func:`clipboard_tool`)."""
    log = folder / f"{name}.log"
    return log.read_text().splitlines() if log.exists() else []
