"""The shell runner: which shell, bounded and safe output, exit status, and stopping a command (its group too)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from kimi_repl import shellrun
from kimi_repl.commands.shell import Feed
from kimi_repl.conversation import Output
from kimi_repl.shellrun import Capture, Stopped, run_command, shell_argv
from tests.helpers import CapturedDisplay

POSIX = pytest.mark.skipif(sys.platform == "win32", reason="POSIX shells and process groups")


def python(code: str) -> list[str]:
    """An argv running ``code`` in this Python, whatever the platform's shell."""
    return [sys.executable, "-c", code]


def run(code: str, **kw: object) -> tuple[Output, list[str]]:
    shown: list[str] = []
    return run_command("test", shown.append, argv=python(code), **kw), shown  # type: ignore[arg-type]


# -- which shell -------------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", ["linux", "darwin", "freebsd14"])
def test_posix_runs_the_users_shell_or_bin_sh(platform: str) -> None:
    assert shell_argv("ls -la", platform=platform, environ={"SHELL": "/bin/zsh"}) == ["/bin/zsh", "-c", "ls -la"]
    assert shell_argv("ls", platform=platform, environ={}) == ["/bin/sh", "-c", "ls"]
    assert shell_argv("ls", platform=platform, environ={"SHELL": "/bin/zsh"}, shell="/bin/fish") == [
        "/bin/fish",
        "-c",
        "ls",
    ]


def test_windows_runs_comspec_with_cmds_own_quoting() -> None:
    comspec = r"C:\Windows\system32\cmd.exe"
    line = shell_argv('dir "C:\\Program Files"', platform="win32", environ={"COMSPEC": comspec})
    assert line == f'"{comspec}" /d /s /c "dir "C:\\Program Files""'
    assert shell_argv("dir", platform="win32", environ={}) == '"cmd.exe" /d /s /c "dir"'


def test_windows_runs_powershell_when_the_user_chose_it() -> None:
    argv = shell_argv("Get-ChildItem", platform="win32", environ={"COMSPEC": "cmd.exe"}, shell="pwsh.exe")
    assert argv == ["pwsh.exe", "-NoProfile", "-Command", "Get-ChildItem"]
    ps = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
    assert shell_argv("ls", platform="win32", environ={}, shell=ps)[:2] == [ps, "-NoProfile"]


# -- output ---------------------------------------------------------------------------------------------


def test_output_and_errors_come_together_in_order_with_the_exit_status() -> None:
    code = "import sys\nfor n in range(3):\n print('out', n, flush=True); print('err', n, file=sys.stderr, flush=1)\n"
    output, shown = run(code + "sys.exit(3)")
    assert output.status == 3 and output.cut == 0
    assert output.text.splitlines() == ["out 0", "err 0", "out 1", "err 1", "out 2", "err 2"]
    assert "".join(shown) == output.text


def test_bytes_that_are_not_utf8_are_replaced_and_escape_sequences_removed_whole() -> None:
    code = (
        r"import sys; sys.stdout.buffer.write(b'ok \xff\xfe caf\xc3\xa9 \x1b[31mred\x1b[0m "
        r"\x1b]0;title\x07\x1b]52;c;QUFB\x07\x1b[2J\x1b[201~ \xe2\x80\xae end\n')"
    )
    output, shown = run(code)
    assert output.text == "ok \ufffd\ufffd café red   end\n"
    assert "\x1b" in "".join(shown)  # the runner passes pieces on as they are: the screen side cleans them


def test_output_is_bounded_keeping_its_start_and_end() -> None:
    code = "import sys; sys.stdout.write('A' * 5000 + 'B' * 100000 + 'C' * 3000)"
    output, shown = run(code, limit=10_000, head=6_000)
    assert output.cut == 108_000 - 10_000
    start, end = output.text.split("\n[… 98,000 bytes left out …]\n")
    assert start == "A" * 5000 + "B" * 1000 and end == "B" * 1000 + "C" * 3000
    assert sum(len(piece) for piece in shown) == 108_000  # the screen saw it all


def test_capture_keeps_exactly_its_limit_however_the_bytes_arrive() -> None:
    capture = Capture(limit=10, head=4)
    for byte in b"0123456789abcdefghij":
        capture.add(bytes([byte]))
    assert (capture.total, capture.cut) == (20, 10)
    assert capture.text() == "0123\n[… 10 bytes left out …]\nefghij"


@POSIX
def test_a_command_that_is_not_found_gives_the_shells_status_and_message() -> None:
    output = run_command("no-such-command-here", lambda text: None, argv=["/bin/sh", "-c", "no-such-command-here"])
    assert output.status == 127 and "no-such-command-here" in output.text


def test_a_shell_that_cannot_start_gives_no_status() -> None:
    output = run_command("ls", lambda text: None, argv=[str(Path("/nonexistent/shell")), "-c", "ls"])
    assert output.status is None and output.text


def test_the_model_reads_the_command_its_status_and_a_fence_longer_than_any_in_the_output() -> None:
    framed = Output("cat notes.md", "```py\nx\n```\n", 1, cut=0).framed()
    assert framed.startswith("Output of the shell command `cat notes.md` (exit status 1):\n````\n")
    assert framed.endswith("\n```\n````")


def test_the_screen_gets_whole_lines_so_a_split_escape_sequence_is_removed_whole() -> None:
    display = CapturedDisplay()
    feed = Feed(display)
    for piece in ("one \x1b[3", "1mred\x1b[0m\ntwo", " \x1b]0;ti", "tle\x07three"):
        feed.write(piece)
    feed.close()
    assert display.output == "one red\ntwo three\n"


# -- stopping ---------------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_a_time_limit_kills_the_command() -> None:
    started = time.monotonic()
    with pytest.raises(Stopped):
        run("import time; print('started', flush=True); time.sleep(60)", timeout=0.5)
    assert time.monotonic() - started < 5


@POSIX
def test_ctrl_c_kills_the_command_and_the_grandchild_it_started(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    command = f"sleep 60 & echo $! > {pidfile}; echo ready; wait"

    def interrupt(text: str) -> None:
        if "ready" in text:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_command(command, interrupt, argv=["/bin/sh", "-c", command])
    assert _gone(int(pidfile.read_text()))


@POSIX
def test_a_command_that_ignores_sigterm_is_killed_all_the_same(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    command = f"trap '' TERM; echo $$ > {pidfile}; echo ready; while :; do sleep 0.1; done"
    started = time.monotonic()
    with pytest.raises(Stopped):
        run_command(command, lambda text: None, argv=["/bin/sh", "-c", command], timeout=0.5)
    assert _gone(int(pidfile.read_text())) and time.monotonic() - started < 5


def test_a_silent_command_is_said_to_be_still_running_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by a new user: `!vim` waited with nothing on screen (it has no terminal)."""
    monkeypatch.setattr(shellrun, "QUIET_SECONDS", 0.2)
    told: list[str] = []
    run_command("sleep 0.6", lambda text: None, on_quiet=lambda: told.append("quiet"))
    assert told == ["quiet"]
    told.clear()
    run_command("echo at once; sleep 0.6", lambda text: None, on_quiet=lambda: told.append("quiet"))
    assert told == [], "it spoke: nothing to say"
