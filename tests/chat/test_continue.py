"""/continue: a cut reply continued as one turn, on any model, after Ctrl-C, with nothing to continue."""

from __future__ import annotations

import os
import re
import signal
import threading

from kimi_repl.commands import CommandRegistry
from kimi_repl.commands.context import CommandContext
from kimi_repl.config import Settings
from kimi_repl.sessions import load_file
from kimi_repl.transcript import from_json, from_markdown, to_json, to_markdown
from tests.fake import FakeMoonshot, Script, markdown_sample
from tests.helpers import CapturedDisplay, saved_session, session_on


def test_continue_after_a_cut_joins_the_continuation_as_one_turn(
    registry: CommandRegistry, settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session = saved_session(settings, display, model="moonshot-v1-128k", max_tokens=300)
    answer = markdown_sample(3)
    server.script(Script(text=answer))
    first = session.chat.send("write it all")
    assert first is not None and first.finish_reason == "length"
    while session.chat.conversation.turns[-1].finish_reason == "length":
        registry.dispatch(session, "/continue")
    conversation = session.chat.conversation
    assert [t.role for t in conversation.turns] == ["user", "assistant"]
    reply = conversation.turns[-1]
    assert reply.content == answer and reply.finish_reason == "stop"
    partial = server.chat_requests()[-1]["messages"][-1]
    assert partial["role"] == "assistant" and partial["partial"] is True and answer.startswith(partial["content"])
    spent, last = reply.spent, reply.usage
    assert spent is not None and last is not None and spent.completion > last.completion
    assert session.chat.log is not None and load_file(session.chat.log.path)[0] == conversation
    assert from_json(to_json(conversation), "t") == conversation
    assert from_markdown(to_markdown(conversation), "t") == conversation
    registry.dispatch(session, "/undo")
    assert conversation.turns == [] and load_file(session.chat.log.path)[1] == ""


def test_a_reply_continued_on_another_model_credits_both(
    registry: CommandRegistry, settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session = saved_session(settings, display, model="moonshot-v1-128k", max_tokens=300)
    answer = markdown_sample(3)
    server.script(Script(text=answer))
    session.chat.send("write it all")
    registry.dispatch(session, "/model moonshot-v1-32k")
    while session.chat.conversation.turns[-1].finish_reason == "length":
        registry.dispatch(session, "/continue")
    conversation = session.chat.conversation
    reply = conversation.turns[-1]
    assert reply.content == answer and reply.model == "moonshot-v1-32k"
    assert reply.written_by == ["moonshot-v1-128k", "moonshot-v1-32k"]
    assert "Kimi · moonshot-v1-128k, then moonshot-v1-32k ·" in to_markdown(conversation)
    assert session.chat.log is not None and load_file(session.chat.log.path)[0] == conversation
    assert from_markdown(to_markdown(conversation), "t") == conversation
    display.forget()
    registry.dispatch(session, "/history")
    assert "moonshot-v1-128k, then moonshot-v1-32k" in display.output


def test_continue_after_ctrl_c_and_after_a_cut_stream(
    registry: CommandRegistry, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session = session_on(server, display, model="moonshot-v1-128k")
    session.chat.send("warm up")
    server.script(Script(text="x" * 400, chunk_chars=2, delay=0.02))
    threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    interrupted = session.chat.send("long")
    assert interrupted is not None and interrupted.interrupted
    server.script(Script(text=" and the end."))
    registry.dispatch(session, "/continue")
    joined = session.chat.conversation.turns[-1]
    assert joined.content == interrupted.content + " and the end." and not joined.interrupted
    server.script(Script(text="cut in the mid", chunk_chars=3, cut_after=2))
    session.chat.send("again")
    registry.dispatch(session, "/continue")
    assert (
        session.chat.conversation.turns[-1].content.startswith("cut in")
        and not session.chat.conversation.turns[-1].incomplete
    )
    assert [t.role for t in session.chat.conversation.turns] == ["user", "assistant"] * 3


def test_continue_with_nothing_to_continue(
    registry: CommandRegistry, session: CommandContext, display: CapturedDisplay, server: FakeMoonshot
) -> None:
    registry.dispatch(session, "/continue")
    assert "no reply to continue" in display.output
    session.chat.send("hi")
    registry.dispatch(session, "/continue")
    assert "The last reply is complete" in display.output
    assert len(server.chat_requests()) == 1


def test_a_failed_continue_keeps_the_reply(
    registry: CommandRegistry, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session = session_on(server, display, model="moonshot-v1-8k")
    server.script(Script(text="half", finish_reason="length"), Script(status=500))
    session.chat.send("hi")
    registry.dispatch(session, "/continue")
    assert session.chat.conversation.turns[-1].content == "half" and "kept as it was" in display.output


def test_a_continued_code_block_renders_as_code(server: FakeMoonshot) -> None:
    display = CapturedDisplay(terminal=True, width=80)
    session = session_on(server, display, model="moonshot-v1-8k")
    server.script(Script(text="```python\ndef f():\n", finish_reason="length"), Script(text="    return 1\n```\n"))
    session.chat.send("code")
    display.forget()
    session.chat.continue_reply()
    screen = "\n".join(line.rstrip() for line in re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", display.output).splitlines())
    assert "return 1" in screen and "```" not in screen and "python" not in screen


def test_a_reply_that_fills_the_window_is_named_not_the_message(
    registry: CommandRegistry, settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    from dataclasses import replace

    from kimi_repl.conversation import Turn

    session = CommandContext.open(replace(settings, model="moonshot-v1-8k"), display)
    conversation = session.chat.conversation
    long_reply = "A long answer that goes on and on. " * 900
    conversation.turns += [
        Turn("user", "go", model="moonshot-v1-8k"),
        Turn("assistant", long_reply, model="moonshot-v1-8k", finish_reason="length"),
    ]
    requests = len(server.chat_requests())
    registry.dispatch(session, "/continue")
    assert "The reply so far is about" in display.output and "Your message" not in display.output
    assert len(server.chat_requests()) == requests and conversation.turns[-1].content == long_reply
