"""A hostile server and a careless user, end to end: the installed kimi-repl in a pty, read as a person would.

Whatever arrives, the screen shows one line for a failure, keeps what arrived, and the next message goes
through; nothing the server sends reaches the terminal as a control sequence.
"""

from __future__ import annotations

import json
import time

from kimi_repl.pastes import size
from tests.fake import FakeMoonshot, Script
from tests.helpers import Launch


def event(payload: object) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def content(text: str) -> bytes:
    return event({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})


def test_surrogates_and_malformed_chunks_in_a_real_terminal(launch: Launch, server: FakeMoonshot) -> None:
    term = launch(cols=140)
    term.wait_for_prompt(1)
    lone = b'data: {"choices": [{"index": 0, "delta": {"content": "odd \\ud800 char"}}]}\n\n'
    done = event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    server.script(Script(body=lone + done + b"data: [DONE]\n\n"))
    term.line("first")
    term.wait_for("odd \ufffd char")
    term.wait_for_prompt(2)
    server.script(Script(body=content("kept so far") + b'data: {"choices": [null]}\n\n'))
    term.line("second")
    term.wait_for("malformed chunk in the stream (choices that are not a list of objects)")
    term.wait_for_prompt(3)
    assert "kept so far" in term.text()
    term.line("third")
    term.wait_for("Echo 3: third")
    term.wait_for_prompt(4)
    term.line("/exit")
    assert term.exit_status() == 0


def test_a_big_paste_is_asked_about_in_a_real_terminal(launch: Launch, server: FakeMoonshot) -> None:
    term = launch(cols=140)
    term.wait_for_prompt(1)
    big = "\n".join(f"line {n} " + "y" * 60 for n in range(3000))
    term.type("summarise: \x1b[200~" + big + "\x1b[201~")
    term.wait_for(f"Paste {size(big)}? y keeps it as one block of your message, n drops it")
    term.type("y")
    term.wait_for(f"⟦paste 1: {size(big)}⟧")
    term.type("\r")
    term.wait_for("Echo 1: summarise: line 0 ")
    term.wait_for_prompt(2)
    assert server.chat_requests()[-1]["messages"][-1]["content"] == "summarise: " + big
    term.line("/exit")
    assert term.exit_status() == 0


def test_keep_alive_pings_cannot_hold_the_prompt_hostage(launch: Launch, server: FakeMoonshot) -> None:
    term = launch(MOONSHOT_TIMEOUT="2", MOONSHOT_MAX_RETRIES="0", cols=140)
    term.wait_for_prompt(1)
    server.script(Script(body=content("started"), pings=0.3))
    began = time.monotonic()
    term.line("hello")
    term.wait_for("The server sent no reply for 2 s, only keep-alive messages.", timeout=20)
    assert time.monotonic() - began < 10
    term.wait_for_prompt(2)
    term.line("/exit")
    assert term.exit_status() == 0


def test_a_session_that_got_no_reply_is_not_said_to_be_saved(launch: Launch, server: FakeMoonshot) -> None:
    term = launch(MOONSHOT_MAX_RETRIES="0")
    term.wait_for_prompt(1)
    server.script(Script(status=500, times=5))
    term.line("never answered")
    term.wait_for("server error (500)")
    term.wait_for_prompt(2)
    term.line("/exit")
    assert term.exit_status() == 0
    assert "is saved" not in term.text() and "Resume it with" not in term.text()
