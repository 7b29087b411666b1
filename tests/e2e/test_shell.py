"""End to end: shell commands typed at the installed ``kimi-repl``'s prompt in a pty, read off the screen."""

from __future__ import annotations

from tests.fake import FakeMoonshot
from tests.helpers import Launch


def test_a_commands_output_streams_and_goes_with_the_next_message(launch: Launch, server: FakeMoonshot) -> None:
    term = launch()
    term.wait_for_prompt(1)
    term.line("!echo hi; printf '\\033]0;pwned\\007\\033[2Jstill here\\n'")
    term.wait_for("Attached the output of")
    term.wait_for_prompt(2)
    assert "hi\nstill here\n" in term.text()
    assert b"\x1b]0;pwned" not in term.raw and b"\x1b[2J" not in term.raw and "pwned" not in term.screen.title
    term.line("what did it print?")
    term.wait_for("Echo 1:")
    term.wait_for_prompt(3)
    sent = server.chat_requests()[-1]["messages"][-1]["content"]
    assert sent.startswith("Output of the shell command `echo hi;") and "\nhi\nstill here\n" in sent
    assert sent.endswith("```\n\nwhat did it print?") and "\x1b" not in sent
    term.ctrl("d")
    assert term.exit_status() == 0


def test_two_bangs_send_a_failing_commands_status_at_once(launch: Launch, server: FakeMoonshot) -> None:
    term = launch()
    term.wait_for_prompt(1)
    term.line("!!false")
    term.wait_for("Echo 1: Output of the shell command false (exit status 1)")  # `false` drawn as code
    term.wait_for_prompt(2)
    assert server.chat_requests()[-1]["messages"][-1]["content"] == (
        "Output of the shell command `false` (exit status 1):\n```\n\n```"
    )
    term.ctrl("d")
    assert term.exit_status() == 0


def test_ctrl_c_stops_a_command_and_attaches_nothing(launch: Launch, server: FakeMoonshot) -> None:
    term = launch()
    term.wait_for_prompt(1)
    term.line("!echo started; sleep 30")
    term.wait_for(lambda text: "started" in text.splitlines())  # its output, not the typed line
    term.ctrl("c")
    term.wait_for("Stopped `echo started; sleep 30`: nothing attached.")
    term.wait_for_prompt(2)
    term.line("hello")
    term.wait_for("Echo 1: hello")
    assert server.chat_requests()[-1]["messages"][-1]["content"] == "hello"
    assert "Traceback" not in term.text()
