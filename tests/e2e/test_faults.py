"""Fault injection end to end: the installed kimi-repl in a pty (or a pipe), broken on purpose.

Kills, hang-ups and torn files followed by more messages; two copies on one session; a disk that refuses
writes; hostile replies and special files; bad settings. After each, ``kimi-repl -c -p`` must resume with
alternating turns and nothing finished lost.
"""

from __future__ import annotations

import base64
import os
import re
import resource
import signal
import subprocess
from pathlib import Path

import pexpect
import pyte
import pytest

from kimi_repl.conversation import Conversation
from tests.fake import TEST_KEY, FakeMoonshot, Script, rate_limited
from tests.helpers import Launch, clean_environment, installed_command, loaded, one_shot, session_files

UP = "\x1b[A"


def resumes_and_alternates(home: Path, server: FakeMoonshot, finished: list[str]) -> Conversation:
    """``kimi-repl -c -p`` works after the fault, and every finished message is still there."""
    result = one_shot(home, server, "-c", "-p", "are you still there?")
    assert result.returncode == 0, result.stderr.decode()
    (path,) = session_files(home)
    conversation = loaded(path)
    contents = [turn.content for turn in conversation.turns]
    for text in finished:
        assert text in contents
    assert contents[-2] == "are you still there?"
    return conversation


# -- sessions that survive anything ----------------------------------------------------------------


def test_kill_mid_reply_then_resume_and_send_something_else(
    launch: Launch, server: FakeMoonshot, isolated_user: Path
) -> None:
    term = launch("-m", "moonshot-v1-32k")
    term.wait_for_prompt(1)
    term.line("one")
    term.wait_for("Echo 1: one")
    term.wait_for_prompt(2)
    server.script(Script(text="never ending " * 200, chunk_chars=3, delay=0.05))
    term.line("two")
    term.wait_for("never ending never")
    term.child.kill(signal.SIGKILL)
    term.child.wait()

    again = launch("-c")
    again.wait_for("never got a reply: ↑ brings it back")
    again.wait_for_prompt(1)
    again.line("something else")  # not the unanswered message: alternation must hold anyway
    again.wait_for("Echo 2: something else")
    again.wait_for_prompt(2)
    again.line("/exit")
    assert again.exit_status() == 0
    resumes_and_alternates(isolated_user, server, ["one", "Echo 1: one", "something else"])


def test_hang_up_mid_reply_saves_the_partial_reply_before_anything_else(
    launch: Launch, server: FakeMoonshot, isolated_user: Path
) -> None:
    term = launch("-m", "moonshot-v1-32k")
    term.wait_for_prompt(1)
    server.script(Script(text="partial words " * 300, chunk_chars=3, delay=0.03))
    term.line("go")
    term.wait_for("partial words partial")
    term.child.ptyproc.delayafterclose = 5.0  # the window closes: the kernel hangs up the terminal (SIGHUP, EIO)
    term.child.close(force=True)
    assert term.child.signalstatus is None, "it left on its own, having saved the reply"
    (path,) = session_files(isolated_user)
    reply = loaded(path).turns[-1]
    assert reply.interrupted and reply.content.startswith("partial words")
    resumes_and_alternates(isolated_user, server, ["go", reply.content])


def test_a_torn_last_line_is_cut_before_more_messages(
    launch: Launch, server: FakeMoonshot, isolated_user: Path
) -> None:
    assert one_shot(isolated_user, server, "-m", "moonshot-v1-8k", "-p", "first").returncode == 0
    (path,) = session_files(isolated_user)
    with path.open("ab") as handle:
        handle.write(b'{"event": "turn", "role": "user", "content": "half wr')  # a crash or a full disk
    term = launch("-c")
    term.wait_for_prompt(1)
    term.line("second")
    term.wait_for("Echo 2: second")
    term.wait_for_prompt(2)
    term.line("/exit")
    assert term.exit_status() == 0
    resumes_and_alternates(isolated_user, server, ["first", "Echo 1: first", "second", "Echo 2: second"])


def test_a_write_that_fails_is_reported_at_once_and_the_file_still_loads(
    launch: Launch, server: FakeMoonshot, isolated_user: Path
) -> None:
    def small_files() -> None:  # any file past 3 KB fails to grow (EFBIG), as a full disk refuses writes
        resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))

    term = launch("-m", "moonshot-v1-32k", preexec=small_files)
    term.wait_for_prompt(1)
    server.script(Script(text="x" * 200), Script(text="y" * 2000), Script(text="z" * 200))
    term.line("one")
    term.wait_for_prompt(2)
    term.line("two")
    term.wait_for("autosave to")  # reported by the write that failed, not one message later
    term.wait_for_prompt(3)
    assert "File too large" in term.text()
    term.line("three")
    term.wait_for_prompt(4)
    term.line("/exit")
    term.wait_for("quit again to leave")  # it says the session is not saved, once, and stays
    term.line("/exit")
    term.exit_status()
    (path,) = session_files(isolated_user)
    contents = [turn.content for turn in loaded(path).turns]
    assert contents[:2] == ["one", "x" * 200]


def test_two_copies_on_one_session_fork_instead_of_interleaving(
    launch: Launch, server: FakeMoonshot, isolated_user: Path
) -> None:
    assert one_shot(isolated_user, server, "-m", "moonshot-v1-8k", "-p", "shared start").returncode == 0
    first = launch("-c")
    first.wait_for_prompt(1)
    second = launch("-c")
    second.wait_for("is open in another kimi-repl")
    second.wait_for("forked from it")
    second.wait_for_prompt(1)
    first.line("from the first")
    first.wait_for("Echo 2: from the first")
    second.line("from the second")
    second.wait_for("Echo 2: from the second")
    for term in (first, second):
        term.wait_for_prompt(2)
        term.line("/exit")
        assert term.exit_status() == 0
    files = session_files(isolated_user)
    assert len(files) == 2
    lasts = sorted(loaded(path).turns[-2].content for path in files)
    assert lasts == ["from the first", "from the second"]
    for path in files:
        assert loaded(path).turns[0].content == "shared start"


def test_nothing_is_glued_to_a_failed_message(launch: Launch, server: FakeMoonshot) -> None:
    term = launch()
    term.wait_for_prompt(1)
    server.script(Script(status=500, times=3))
    term.line("this one fails")
    term.wait_for("↑ brings your message back")
    term.wait_for_prompt(2)
    term.line("/model moonshot-v1-8k")  # a command, not the end of the failed message
    term.wait_for("moonshot-v1-8k ›")
    term.type(UP + UP)
    term.wait_for("› this one fails")
    term.line("")
    term.wait_for("Echo 1: this one fails")


# -- hostile output ----------------------------------------------------------------------------------


def test_a_hostile_reply_takes_control_of_nothing(launch: Launch, server: FakeMoonshot, tmp_path: Path) -> None:
    term = launch("-m", "moonshot-v1-32k", cols=160)
    term.wait_for_prompt(1)
    term.line("%hostile")
    term.wait_for("https://bank.example/login (https://evil.example/x)")
    term.wait_for_prompt(2)
    screen = term.text()
    assert term.screen.title != "pwned" and "kimi-repl" in screen.split("\n")[0]  # not cleared, not retitled
    assert "⟨U+202E⟩" in screen and "⟨U+2066⟩" in screen  # the Trojan Source line shows what it is
    assert "\u202e" not in term.raw.decode("utf-8", "replace")
    term.line("/copy")
    term.wait_for("Copied the last reply")
    payload = re.search(rb"\x1b\]52;c;([A-Za-z0-9+/=]*)\x07", bytes(term.raw))
    assert payload is not None
    copied = base64.b64decode(payload.group(1)).decode()
    assert "\x1b" not in copied and "\u202e" not in copied and "[201~" in copied
    term.line("/save chat.md")
    term.wait_for("Saved 2 turns to chat.md")
    saved = (tmp_path / "work" / "chat.md").read_bytes()
    assert b"\x1b" not in saved and b"\x07" not in saved and "\u202e".encode() not in saved


# -- bounded input and safe writes -------------------------------------------------------------------


def test_special_files_are_refused_in_one_line(launch: Launch, server: FakeMoonshot, tmp_path: Path) -> None:
    work = tmp_path / "work"
    os.mkfifo(work / "fifo")
    (work / "chat.md").write_text("precious")
    (work / "chat.md").chmod(0o640)
    (work / "link.md").symlink_to(work / "chat.md")
    term = launch("-m", "moonshot-v1-8k")
    term.wait_for_prompt(1)
    term.line("hello")
    term.wait_for_prompt(2)
    checks = [
        ("/file /dev/zero", "/dev/zero is a device, not a document"),
        ("/load fifo", "fifo is a named pipe (FIFO), not a transcript"),
        ("/file .", ". is a folder, not a document"),
        ("/save! fifo", "fifo is a named pipe (FIFO): only a regular file is ever replaced"),
        ("/save! link.md", "link.md is a symbolic link: only a regular file is ever replaced"),
        ("/save! chat.md", "Saved 2 turns to chat.md"),
    ]
    for prompts, (command, answer) in enumerate(checks, start=3):
        term.line(command)
        term.wait_for(answer)
        term.wait_for_prompt(prompts)
    assert (work / "fifo").is_fifo() and (work / "link.md").is_symlink()
    assert (work / "chat.md").stat().st_mode & 0o777 == 0o640


def test_tab_completion_survives_a_symlink_loop(launch: Launch, server: FakeMoonshot, tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "loop1").symlink_to(work / "loop2")
    (work / "loop2").symlink_to(work / "loop1")
    term = launch()
    term.wait_for_prompt(1)
    term.type("/load loo\t")
    term.wait_for("loop2")
    term.ctrl("c")
    term.line("/exit")
    assert term.exit_status() == 0


def test_a_first_message_waiting_for_a_slow_model_list_shows_it(launch: Launch, server: FakeMoonshot) -> None:
    """Found by a new user: 15 s of a silent prompt while the list the first message needs was on its way."""
    server.get_delay = 3.0
    term = launch()
    term.wait_for_prompt(1)
    term.line("hello slow server")
    term.wait_for("Waiting for the server's models")
    term.wait_for("Echo 1: hello slow server", timeout=10)


def test_slow_steps_show_progress_and_stop_on_ctrl_c(launch: Launch, server: FakeMoonshot) -> None:
    server.get_delay = 30.0
    term = launch("-m", "moonshot-v1-8k")
    term.wait_for_prompt(1)
    term.line("/models")
    term.wait_for("Asking the server for its models…")
    term.ctrl("c")
    term.wait_for("Interrupted.", timeout=1.5)  # at once, even while the background fetch holds the list
    term.wait_for_prompt(2)
    server.get_delay = 2.0
    term.line("/balance")
    term.wait_for("Asking Moonshot for your balance…")
    term.wait_for("Balance: 49.59 CNY", timeout=10)
    term.wait_for_prompt(3)


def test_a_rate_limit_counts_down_then_sends_and_ctrl_c_brings_the_message_back(
    launch: Launch, server: FakeMoonshot
) -> None:
    term = launch()
    term.wait_for_prompt(1)
    server.script(rate_limited(3))  # a new account: 3 requests a minute
    term.line("first question")
    term.wait_for("Rate limit reached (3 requests allowed): sending again in 3 s (try 2 of 3; Ctrl-C stops)")
    term.wait_for("sending again in 1 s")
    term.wait_for("Echo 1: first question")
    assert "Rate limited" not in term.log(), "a wait, not a failure"
    term.wait_for_prompt(2)
    server.script(rate_limited(60))
    term.line("second question")
    term.wait_for("sending again in 5")
    term.ctrl("c")
    term.wait_for("Interrupted before the reply began")
    term.wait_for(lambda screen: "› second question" in screen)  # the message is back at the prompt
    assert len(server.chat_requests()) == 3


# -- no traceback, ever --------------------------------------------------------------------------------


def test_interactive_mode_with_stdout_in_a_file_refuses_in_one_line(isolated_user: Path, server: FakeMoonshot) -> None:
    environment = clean_environment(isolated_user, MOONSHOT_BASE_URL=server.base_url, MOONSHOT_API_KEY=TEST_KEY)
    out = isolated_user / "out.txt"
    child = pexpect.spawn(
        "/bin/sh", ["-c", f"'{installed_command()}' > '{out}'"], env=environment, dimensions=(40, 100), echo=False
    )
    child.expect(pexpect.EOF, timeout=20)
    child.close()
    text = child.before.decode()
    assert child.exitstatus == 2 and "standard output is not a terminal" in text and "Traceback" not in text
    assert out.read_text() == ""


def test_a_closed_pipe_ends_quietly_and_the_reply_is_kept(isolated_user: Path, server: FakeMoonshot) -> None:
    environment = clean_environment(isolated_user, MOONSHOT_BASE_URL=server.base_url, MOONSHOT_API_KEY=TEST_KEY)
    server.script(Script(text="line\n" * 20_000, chunk_chars=50))
    result = subprocess.run(
        ["/bin/sh", "-c", f"'{installed_command()}' -m moonshot-v1-8k -p go | head -1; echo status=$?"],
        capture_output=True,
        env=environment,
        cwd=isolated_user.parent / "work",
        timeout=60,
    )
    assert result.stdout.decode() == "line\nstatus=0\n"
    assert result.stderr == b""
    (path,) = session_files(isolated_user)
    assert loaded(path).turns[-1].interrupted


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MOONSHOT_MAX_RETRIES", "nan", "MOONSHOT_MAX_RETRIES must be a whole number"),
        ("MOONSHOT_MAX_RETRIES", "inf", "MOONSHOT_MAX_RETRIES must be a whole number"),
        ("MOONSHOT_MAX_RETRIES", "1.5", "MOONSHOT_MAX_RETRIES must be a whole number"),
        ("MOONSHOT_TIMEOUT", "nan", "MOONSHOT_TIMEOUT must be a number of seconds"),
        ("MOONSHOT_TIMEOUT", "inf", "MOONSHOT_TIMEOUT must be a number of seconds"),
        ("MOONSHOT_TIMEOUT", "0", "MOONSHOT_TIMEOUT must be more than 0"),
        ("MOONSHOT_TIMEOUT", "1e309", "MOONSHOT_TIMEOUT must be a number of seconds"),
        ("MOONSHOT_BASE_URL", "http://[::1", "MOONSHOT_BASE_URL must be an http:// or https:// URL"),
        ("MOONSHOT_MODEL", "kimi\u200bk2", "invisible or control character (U+200B)"),
        ("MOONSHOT_MODEL", "kimi\x1b[2J", "invisible or control character (U+001B)"),
        ("MOONSHOT_API_KEY", "sk-a\nX-Evil: 1", "MOONSHOT_API_KEY holds characters an API key cannot have"),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_two(
    isolated_user: Path, server: FakeMoonshot, variable: str, value: str, message: str
) -> None:
    result = one_shot(isolated_user, server, "-p", "hi", **{variable: value})
    text = result.stderr.decode()
    assert (result.returncode, text.count("\n")) == (2, 1) and message in text, text
    assert "Traceback" not in text and server.chat_requests() == []


@pytest.mark.parametrize(
    ("dotenv", "message"),
    [
        (b"MOONSHOT_API_KEY=sk-\xff\xfe\n", "is not UTF-8 text"),
        (None, "is a named pipe (FIFO), not a .env file"),
    ],
)
def test_a_bad_dotenv_is_one_line_and_exit_two(
    isolated_user: Path, server: FakeMoonshot, dotenv: bytes | None, message: str
) -> None:
    path = isolated_user.parent / "work" / ".env"
    if dotenv is None:
        os.mkfifo(path)  # reading it would block start-up for ever
    else:
        path.write_bytes(dotenv)
    environment = clean_environment(isolated_user, MOONSHOT_BASE_URL=server.base_url)
    result = subprocess.run(
        [installed_command(), "-p", "hi"], capture_output=True, env=environment, cwd=path.parent, timeout=20
    )
    assert result.returncode == 2 and message in result.stderr.decode()
    assert result.stderr.decode().count("\n") == 1


def test_undecodable_or_empty_resume_input_is_one_line(isolated_user: Path, server: FakeMoonshot) -> None:
    result = one_shot(isolated_user, server, stdin=b"\xff")
    assert result.returncode == 2 and b"not UTF-8" in result.stderr and b"Traceback" not in result.stderr
    result = one_shot(isolated_user, server, "-r", "", "-p", "hi")
    assert result.returncode == 2 and b"-r needs a session id" in result.stderr


def test_a_failed_one_shot_leaves_no_empty_session(isolated_user: Path, server: FakeMoonshot) -> None:
    server.script(Script(status=500, times=3))
    assert one_shot(isolated_user, server, "-p", "hi").returncode == 1
    assert session_files(isolated_user) == []


def test_a_message_too_long_for_the_model_is_not_sent(isolated_user: Path, server: FakeMoonshot) -> None:
    result = one_shot(isolated_user, server, "-m", "moonshot-v1-8k", stdin="word " * 800_000)
    assert result.returncode == 1 and b"too long for moonshot-v1-8k's 8k window" in result.stderr
    assert server.chat_requests() == []


def test_the_error_log_has_timestamps(isolated_user: Path) -> None:
    from kimi_repl.errorlog import log_internal_error

    try:
        raise RuntimeError("boom with sk-secret-0123456789")
    except RuntimeError:
        path = log_internal_error("sk-secret-0123456789")
    assert path is not None
    text = path.read_text()
    assert re.match(r"--- \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} · kimi-repl ", text)
    assert "sk-secret" not in text and "RuntimeError: boom with [API key removed]" in text


def _screen_unused() -> pyte.Screen:  # pragma: no cover - keeps pyte imported for the title check's type
    return pyte.Screen(1, 1)
