"""Running a command the user typed (``!COMMAND``) in their own shell: its output merged, bounded, made safe.

It touches no terminal: the output goes to a callback as it arrives and comes back as an
:class:`~kimi_repl.conversation.Output`. The command runs with the user's rights, as if typed in their shell,
but away from the terminal: standard input is empty, standard output and error share one pipe (so they
interleave as a terminal shows them), and on POSIX it runs in a session of its own, without a controlling
terminal. So nothing it prints or does can take the terminal over, and stopping it (Ctrl-C, a time limit)
kills its whole process group, grandchildren included.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import PureWindowsPath

from kimi_repl.conversation import Output
from kimi_repl.sanitize import command_output

LIMIT = 100 * 1024
"""Bytes of output kept: about 25,000 tokens, a quarter of a small window."""
HEAD = 60 * 1024
"""Of which the start (what the command said first: what it is doing); the rest is the end (where errors and
summaries are). The middle of a longer output is left out, and the output says how much."""
GRACE_SECONDS = 0.5
"""How long a stopped command has, after SIGTERM, before SIGKILL."""
CHUNK = 65536


class Stopped(Exception):
    """The command ran past its time limit and was killed."""


def shell_argv(
    command: str, *, platform: str | None = None, environ: Mapping[str, str] | None = None, shell: str | None = None
) -> list[str] | str:
    """What runs ``command`` in the user's shell on ``platform`` (``sys.platform`` by default).

    POSIX: ``$SHELL -c COMMAND`` (``/bin/sh`` without ``$SHELL``). Windows: ``%COMSPEC% /d /s /c "COMMAND"``
    (``cmd.exe`` without ``%COMSPEC%``), given as one command line, as ``subprocess`` does for ``shell=True``,
    so cmd's own quoting is left alone. ``shell`` (``shell`` in config.toml) takes the place of either; a
    PowerShell (``powershell``, ``pwsh``) is run with ``-NoProfile -Command``.
    """
    platform = sys.platform if platform is None else platform
    environ = os.environ if environ is None else environ
    if platform == "win32":
        program = shell or environ.get("COMSPEC") or "cmd.exe"
        if PureWindowsPath(program).stem.lower() in ("powershell", "pwsh"):
            return [program, "-NoProfile", "-Command", command]
        if PureWindowsPath(program).stem.lower() != "cmd":
            return [program, "-c", command]  # a POSIX shell on Windows (Git Bash, MSYS)
        return f'"{program}" /d /s /c "{command}"'
    return [shell or environ.get("SHELL") or "/bin/sh", "-c", command]


class Capture:
    """The output kept of a stream of bytes: the first :data:`HEAD` bytes and the last ``limit - HEAD``.

    Attributes:
        total: every byte seen.
    """

    def __init__(self, limit: int = LIMIT, head: int = HEAD) -> None:
        self.limit, self.head_size = limit, min(head, limit)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_size - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        keep = self.limit - self.head_size
        if data and keep:
            self.tail += data[-keep:]
            if len(self.tail) > 2 * keep:  # trimmed now and then, not on every chunk: linear overall
                del self.tail[:-keep]

    @property
    def cut(self) -> int:
        """Bytes left out of the middle."""
        return max(0, self.total - self.limit)

    def text(self, at_cut: Callable[[str, str], tuple[str, str]] = lambda head, tail: (head, tail)) -> str:
        """What was kept, decoded as UTF-8 (a bad byte becomes U+FFFD) and made safe, with a line where bytes
        were left out (``at_cut`` may trim the text on either side of it)."""
        tail = bytes(self.tail[-(self.limit - self.head_size) :]) if self.limit > self.head_size else b""
        if not self.cut:
            return command_output((bytes(self.head) + tail).decode("utf-8", "replace"))
        gap = f"\n[… {self.cut:,} bytes left out …]\n"
        start, end = at_cut(*(command_output(part.decode("utf-8", "replace")) for part in (bytes(self.head), tail)))
        return start + gap + end


QUIET_SECONDS = 3.0
"""A command silent this long is said to be still running (an editor waiting for a terminal looks hung)."""


def run_command(
    command: str,
    show: Callable[[str], None],
    *,
    argv: list[str] | str | None = None,
    timeout: float | None = None,
    limit: int = LIMIT,
    head: int = HEAD,
    at_cut: Callable[[str, str], tuple[str, str]] = lambda head, tail: (head, tail),
    on_quiet: Callable[[], None] = lambda: None,
) -> Output:
    """Run ``command`` in the user's shell (:func:`shell_argv`, unless ``argv`` is given) until it ends.

    Args:
        show: called with each piece of output as it arrives (decoded; made safe by the caller, see
            :func:`~kimi_repl.sanitize.command_output`: a piece may end inside an escape sequence).
        timeout: seconds after which the command is killed (None: no limit).
        at_cut: trims the kept text on either side of a cut (the caller takes out what a cut left of the key).
        on_quiet: called once if nothing has come out after :data:`QUIET_SECONDS` (the caller says it still runs).

    Raises:
        KeyboardInterrupt: Ctrl-C: the command (its process group) was killed first.
        Stopped: the time limit passed: the command was killed.
    """
    argv = shell_argv(command) if argv is None else argv
    capture = Capture(limit, head)
    try:
        process = _start(argv)
    except OSError as error:  # the shell itself is missing or cannot run
        return Output(command, command_output(f"{error.strerror or error}: {_program(argv)}"), None)
    chunks: queue.Queue[bytes] = queue.Queue()
    reader = threading.Thread(target=_read, args=(process, chunks), daemon=True)
    reader.start()
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    deadline = None if timeout is None else time.monotonic() + timeout
    quiet_at: float | None = time.monotonic() + QUIET_SECONDS  # None once told, or once output came
    try:
        while True:
            if deadline is not None and time.monotonic() > deadline:
                raise Stopped(command)
            try:
                data = chunks.get(timeout=0.1)
            except queue.Empty:
                if quiet_at is not None and time.monotonic() > quiet_at:
                    quiet_at = None
                    on_quiet()
                continue
            quiet_at = None
            if not data:
                break
            capture.add(data)
            show(decoder.decode(data))
        show(decoder.decode(b"", final=True))
        status = _wait(process, deadline, command)
    except BaseException:
        stop(process)
        raise
    return Output(command, capture.text(at_cut), status, capture.cut)


def _wait(process: subprocess.Popen[bytes], deadline: float | None, command: str) -> int:
    """The exit status of a command whose output has ended (it may still run a while)."""
    while True:
        if deadline is not None and time.monotonic() > deadline:
            raise Stopped(command)
        with contextlib.suppress(subprocess.TimeoutExpired):
            return process.wait(0.1)


def _program(argv: list[str] | str) -> str:
    return argv[0] if isinstance(argv, list) else argv.split('"')[1]


def _start(argv: list[str] | str) -> subprocess.Popen[bytes]:
    """Start the shell: no input, output and errors in one pipe, in a session (process group) of its own."""
    if sys.platform == "win32":
        flags = subprocess.CREATE_NEW_PROCESS_GROUP  # Ctrl-C in the console is ours to pass on, not its
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, creationflags=flags
        )
    return subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )


def _read(process: subprocess.Popen[bytes], chunks: queue.Queue[bytes]) -> None:
    """Pass the pipe's bytes on as they come; b"" at its end (every writer gone, grandchildren too)."""
    pipe = process.stdout
    assert pipe is not None
    with contextlib.suppress(OSError, ValueError):
        while data := os.read(pipe.fileno(), CHUNK):
            chunks.put(data)
    chunks.put(b"")
    with contextlib.suppress(OSError):
        pipe.close()


def stop(process: subprocess.Popen[bytes]) -> None:
    """Kill ``process`` and, on POSIX, every process of its group: SIGTERM, then SIGKILL after a grace period.
    On Windows, terminate it."""
    if sys.platform == "win32":
        with contextlib.suppress(OSError):
            process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(GRACE_SECONDS)
        return
    _signal_group(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(GRACE_SECONDS)
    _signal_group(process.pid, signal.SIGKILL)  # the group: a grandchild may outlive the shell
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(GRACE_SECONDS)


def _signal_group(group: int, number: int) -> None:
    if sys.platform != "win32":
        with contextlib.suppress(OSError):  # gone already
            os.killpg(group, number)
