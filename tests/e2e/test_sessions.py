"""Session files end to end, the installed kimi-repl against the fake server: a short API key, files an older
kimi-repl wrote, a session of any size, and folders and files that someone else could have changed."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from kimi_repl.conversation import Conversation
from kimi_repl.redaction import REDACTED
from kimi_repl.sessions import SessionStore, load_file
from tests.fake import TEST_KEY, FakeMoonshot, Script
from tests.helpers import (
    Launch,
    clean_environment,
    installed_command,
    loaded,
    one_shot,
    session_files,
)
from tests.old_format import ID, exchange, sample, write_old

posix = pytest.mark.skipif(not hasattr(os, "getuid"), reason="no POSIX owners and modes here")


as_root = pytest.mark.skipif(
    not hasattr(os, "getuid") or os.getuid() != 0, reason="playing someone else (chown) takes root"
)


def sessions_folder(home: Path) -> Path:
    """The sessions folder, made as kimi-repl makes it (only the user's)."""
    folder = home / ".local" / "share" / "kimi-repl" / "sessions"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def one_line(result: subprocess.CompletedProcess[bytes]) -> str:
    text = result.stderr.decode()
    assert text.count("\n") == 1 and "Traceback" not in text, text
    return text


def test_a_short_api_key_keeps_every_session_readable(isolated_user: Path, server: FakeMoonshot) -> None:
    server.api_key = "1"
    first = one_shot(isolated_user, server, "-m", "moonshot-v1-8k", "-p", "question 1", MOONSHOT_API_KEY="1")
    assert first.returncode == 0, first.stderr.decode()
    again = one_shot(isolated_user, server, "-c", "-p", "question 11", MOONSHOT_API_KEY="1")
    assert again.returncode == 0 and b"No saved session" not in again.stderr
    (path,) = session_files(isolated_user)
    contents = [turn.content for turn in loaded(path).turns]
    assert contents == ["question 1", "Echo 1: question 1", "question 11", "Echo 2: question 11"]
    assert REDACTED.encode() not in path.read_bytes()
    listed = one_shot(isolated_user, server, "--sessions", MOONSHOT_API_KEY="1")
    assert listed.returncode == 0 and f"{path.stem}" in listed.stdout.decode() and "4 turns" in listed.stdout.decode()
    assert server.chat_requests()[-1]["messages"][-3]["content"] == "question 1"  # sent back as it was typed


def test_an_old_session_mangled_by_a_short_key_is_listed_and_continued_repaired(
    isolated_user: Path, server: FakeMoonshot
) -> None:
    server.api_key = "1"
    conversation = sample("moonshot-v1-8k")
    path = write_old(sessions_folder(isolated_user), conversation, "1")
    listed = one_shot(isolated_user, server, "--sessions")  # the key is in the id: the file's name gives it away
    assert listed.returncode == 0 and ID in listed.stdout.decode() and "4 turns" in listed.stdout.decode()
    result = one_shot(isolated_user, server, "-c", "-p", "and 1 more", MOONSHOT_API_KEY="1")
    assert result.returncode == 0, result.stderr.decode()
    data = path.read_bytes()
    assert b'"version": 3' in data.split(b"\n", 1)[0] and REDACTED.encode() not in data
    loaded_back = loaded(path)
    assert loaded_back.turns[:4] == conversation.turns and loaded_back.turns[4].content == "and 1 more"
    sent = server.chat_requests()[-1]["messages"]
    assert sent[0] == {"role": "system", "content": "Be briefer."} and "exactly 1 question?" in sent[2]["content"]


def test_a_session_over_64_mb_is_listed_and_continued(isolated_user: Path, server: FakeMoonshot) -> None:
    conversation = Conversation(model="moonshot-v1-8k", id=ID)
    for number in range(7):
        exchange(conversation, f"question {number}", "A long answer. " * 700_000)
    log = SessionStore(sessions_folder(isolated_user), secret=None).new_log(conversation)
    log.turn(*conversation.turns)
    log.close()
    assert log.path.stat().st_size > 64 * 1024 * 1024
    listed = one_shot(isolated_user, server, "--sessions")
    assert listed.returncode == 0 and f"{ID}" in listed.stdout.decode() and "14 turns" in listed.stdout.decode()
    result = one_shot(isolated_user, server, "-c", "-p", "one more")
    assert result.returncode == 0, result.stderr.decode()
    assert b"the 14 oldest turns are not sent with this message" in result.stderr  # far beyond any window, but all kept
    turns = load_file(log.path)[0].turns
    assert turns[:14] == conversation.turns and turns[14].content == "one more"


@posix
def test_under_umask_000_every_folder_and_file_kimi_repl_makes_is_private(
    launch: Launch, server: FakeMoonshot, isolated_user: Path
) -> None:
    term = launch("-m", "moonshot-v1-8k", preexec=lambda: os.umask(0))
    term.wait_for_prompt(1)
    term.line("hello")
    term.wait_for("Echo 1: hello")
    term.wait_for_prompt(2)
    term.line("/exit")
    assert term.exit_status() == 0
    (path,) = session_files(isolated_user)
    made = [path.parent, isolated_user / ".local" / "state" / "kimi-repl"]
    folders = {folder for top in made for folder in (top, *top.parents) if isolated_user in folder.parents}
    assert {folder.name for folder in folders} == {".local", "share", "state", "kimi-repl", "sessions"}
    for folder in folders:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for file in (path, made[1] / "history"):
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file


@posix
def test_a_session_planted_in_an_open_sessions_folder_is_never_resumed(
    launch: Launch, server: FakeMoonshot, isolated_user: Path
) -> None:
    folder = sessions_folder(isolated_user)
    planted = write_old(folder, sample("moonshot-v1-8k"), None)
    planted.chmod(0o666)
    folder.chmod(0o777)
    before = planted.read_bytes()
    for args in (["-c", "-p", "hi"], ["-r", ID, "-p", "hi"], ["--sessions"]):
        result = one_shot(isolated_user, server, *args)
        line = one_line(result)
        assert result.returncode == 2 and "can be changed by its group and others (mode 0777)" in line
        assert f"chmod 700 {folder}" in line
    assert server.chat_requests() == []
    term = launch()
    term.wait_for("⚠ Sessions are not saved: the sessions folder")
    term.wait_for_prompt(1)
    term.line("hello")
    term.wait_for("Echo 1: hello")
    term.wait_for_prompt(2)
    term.line("/sessions")
    term.wait_for("Sessions are not saved in this mode.")
    term.wait_for_prompt(3)
    term.line("/exit")
    assert term.exit_status() == 0
    assert [p.name for p in folder.iterdir()] == [planted.name] and planted.read_bytes() == before


@as_root
def test_a_sessions_link_into_someone_elses_folder_is_not_followed(
    launch: Launch, server: FakeMoonshot, isolated_user: Path, tmp_path: Path
) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    planted = write_old(theirs, sample("moonshot-v1-8k"), None)
    os.chown(planted, 65534, 65534)
    os.chown(theirs, 65534, 65534)
    link = sessions_folder(isolated_user)
    link.rmdir()
    link.symlink_to(theirs)
    for args in (["-c", "-p", "hi"], ["--sessions"]):
        result = one_shot(isolated_user, server, *args)
        line = one_line(result)
        assert result.returncode == 2 and f"(a link to {theirs}) belongs to user 65534, not to you" in line
    term = launch()
    term.wait_for("⚠ Sessions are not saved: the sessions folder")
    term.wait_for_prompt(1)
    term.line("hello")
    term.wait_for("Echo 1: hello")
    term.wait_for_prompt(2)
    term.line("/exit")
    assert term.exit_status() == 0
    assert [p.name for p in theirs.iterdir()] == [planted.name]


@posix
def test_continuing_says_why_a_newer_session_file_is_passed_over(isolated_user: Path, server: FakeMoonshot) -> None:
    assert one_shot(isolated_user, server, "-m", "moonshot-v1-8k", "-p", "mine").returncode == 0
    (mine,) = session_files(isolated_user)
    planted = write_old(mine.parent, sample("moonshot-v1-8k"), None)
    planted.chmod(0o666)
    os.utime(planted, (mine.stat().st_mtime + 60, mine.stat().st_mtime + 60))
    result = one_shot(isolated_user, server, "-c", "-p", "more")
    assert result.returncode == 0 and result.stdout == b"Echo 2: more\n"
    line = one_line(result)
    assert line.startswith(f"⚠ Not resumed: {planted} can be changed by its group and others (mode 0666)")
    assert [turn.content for turn in loaded(mine).turns][2] == "more"
    listed = one_shot(isolated_user, server, "--sessions")
    assert f"⚠ Not listed: {planted} can be changed" in listed.stderr.decode()
    assert mine.stem in listed.stdout.decode()


def test_exit_then_continue_shows_the_history_and_the_next_request_carries_it(
    launch: Launch, server: FakeMoonshot
) -> None:
    term = launch()
    term.wait_for_prompt(1)
    term.line("remember the number 7")
    term.wait_for("Echo 1: remember the number 7")
    term.wait_for_prompt(2)
    term.line("/exit")
    assert term.exit_status() == 0
    assert "Resume it with: kimi-repl -c" in term.text()

    again = launch("-c")
    again.wait_for("Resumed session")
    again.wait_for_prompt(1)
    assert "remember the number 7" in again.text()
    again.line("what number?")
    again.wait_for("Echo 2: what number?")
    assert [m["content"] for m in server.chat_requests()[-1]["messages"]] == [
        "remember the number 7",
        "Echo 1: remember the number 7",
        "what number?",
    ]


def test_a_killed_process_keeps_every_finished_turn(launch: Launch, server: FakeMoonshot) -> None:
    term = launch()
    term.wait_for_prompt(1)
    for n, text in enumerate(("one", "two"), 1):
        term.line(text)
        term.wait_for(f"Echo {n}: {text}")
        term.wait_for_prompt(n + 1)
    server.script(Script(text="a reply that never ends " * 100, chunk_chars=3, delay=0.05))
    term.line("three")
    term.wait_for("a reply that never")
    term.child.kill(9)
    assert term.child.wait() != 0  # killed

    again = launch("-c")
    again.wait_for("never got a reply: ↑ brings it back")
    again.wait_for_prompt(1)
    again.type("\x1b[A")
    again.wait_for("› three")
    again.line("")
    again.wait_for("Echo 3: three")
    assert [m["content"] for m in server.chat_requests()[-1]["messages"]] == [
        "one",
        "Echo 1: one",
        "two",
        "Echo 2: two",
        "three",
    ]


def test_closing_the_terminal_mid_reply_saves_the_partial_reply(launch: Launch, server: FakeMoonshot) -> None:
    term = launch()
    term.wait_for_prompt(1)
    server.script(Script(text="partial words " * 300, chunk_chars=3, delay=0.03))
    term.line("go")
    term.wait_for("partial words partial")
    term.child.kill(1)  # SIGHUP, as when the terminal window closes
    term.exit_status()

    again = launch("-c")
    again.wait_for("Resumed session")
    again.wait_for_prompt(1)
    assert "interrupted" in again.text()
    again.line("/exit")
    assert again.exit_status() == 0


def test_sessions_words_finds_the_right_ones_among_a_dozen(
    launch: Launch, server: FakeMoonshot, isolated_user: Path
) -> None:
    environment = clean_environment(isolated_user, MOONSHOT_BASE_URL=server.base_url, MOONSHOT_API_KEY=TEST_KEY)
    topics = [f"topic {n} about {'rust' if n % 3 == 0 else 'python'} and 第{n}章" for n in range(12)]
    for topic in topics:
        subprocess.run(
            [installed_command(), "-m", "moonshot-v1-8k", "-p", topic],
            env=environment,
            capture_output=True,
            check=True,
            timeout=30,
        )
    term = launch()
    term.wait_for_prompt(1)
    term.line("/sessions RUST 第")
    term.wait_for("Sessions that mention 'RUST' and '第'")
    term.wait_for_prompt(2)
    listed = term.text().rsplit("Sessions that mention", 1)[1]
    assert sorted(line.split("topic ")[1].split()[0] for line in listed.splitlines() if "topic " in line) == [
        "0",
        "3",
        "6",
        "9",
    ]
    shell = subprocess.run(
        [installed_command(), "--sessions", "python", "第7章"], env=environment, capture_output=True, text=True
    )
    assert shell.returncode == 0 and "topic 7 about python" in shell.stdout and "topic 8" not in shell.stdout
