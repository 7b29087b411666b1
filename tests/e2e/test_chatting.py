"""End to end: chatting in the installed ``kimi-repl`` in a pty against the fake server, read off the screen."""

from __future__ import annotations

from tests.fake import FakeMoonshot, Script, markdown_sample
from tests.helpers import Launch


def test_two_turns_keep_the_history_and_ctrl_d_exits_zero(launch: Launch, server: FakeMoonshot) -> None:
    term = launch()
    term.wait_for_prompt(1)
    term.line("hello")
    term.wait_for("Echo 1: hello")
    term.wait_for_prompt(2)
    term.line("你好，再来一次")
    term.wait_for("Echo 2: 你好，再来一次")
    term.wait_for_prompt(3)
    term.ctrl("d")
    assert term.exit_status() == 0
    assert [m["content"] for m in server.chat_requests()[-1]["messages"]] == [
        "hello",
        "Echo 1: hello",
        "你好，再来一次",
    ]


def test_ctrl_c_mid_reply_keeps_the_partial_reply_and_the_next_turn_works(launch: Launch, server: FakeMoonshot) -> None:
    term = launch()
    term.wait_for_prompt(1)
    server.script(Script(text="Streaming slowly " * 200, chunk_chars=4, delay=0.03))
    term.line("tell me a long story")
    term.wait_for("Streaming slowly Streaming")
    term.ctrl("c")
    term.wait_for("Interrupted: the partial reply is kept")
    term.wait_for_prompt(2)
    term.line("go on")
    term.wait_for("Echo 2: go on")
    history = server.chat_requests()[-1]["messages"]
    assert [m["role"] for m in history] == ["user", "assistant", "user"]
    assert history[1]["content"].startswith("Streaming slowly")
    assert len(history[1]["content"]) < len("Streaming slowly " * 200)


def test_cut_stream_is_reported_as_incomplete(launch: Launch, server: FakeMoonshot) -> None:
    term = launch()
    term.wait_for_prompt(1)
    server.script(Script(text="This reply stops in the middle of a sentence because", chunk_chars=5, cut_after=4))
    term.line("hi")
    term.wait_for("ended without a finish reason")
    term.wait_for_prompt(2)
    assert "This reply stops in" in term.text()


def test_server_error_is_one_line_and_the_message_can_be_sent_again(launch: Launch, server: FakeMoonshot) -> None:
    term = launch()
    term.wait_for_prompt(1)
    server.script(Script(status=500, times=3))
    term.line("are you there?")
    term.wait_for("✗ Moonshot server error (500) after 2 retries")
    term.wait_for_prompt(2)
    term.type("\x1b[A")  # ↑ brings the failed message back
    term.wait_for("› are you there?", timeout=5)
    term.line("")
    term.wait_for("Echo 1: are you there?")
    assert [m["role"] for m in server.chat_requests()[-1]["messages"]] == ["user"]


def test_long_markdown_reply_renders_each_line_once_without_raw_syntax(launch: Launch, server: FakeMoonshot) -> None:
    term = launch(rows=24)
    term.wait_for_prompt(1)
    server.script(Script(text=markdown_sample(6), chunk_chars=9, delay=0.001))
    term.line("show me markdown")
    term.wait_for_prompt(2, timeout=30)
    lines = term.lines()
    handlers = [line for line in lines if "def handler_" in line]
    assert len(handlers) == len(set(handlers)) > 5, "a code line was printed twice or not at all"
    body = "\n".join(lines)
    assert "```" not in body and "**" not in body and "## Section" not in body
    assert "中文段落也会出现，用来检查宽字符的对齐与换行。" in body


def test_thinking_streams_live_then_collapses_and_the_usage_line_follows(launch: Launch, server: FakeMoonshot) -> None:
    term = launch("-m", "kimi-k2.7-code")
    term.wait_for_prompt(1)
    server.script(Script(reasoning="Considering the question carefully. " * 20, text="**42**", delay=0.03))
    term.line("meaning of life?")
    term.wait_for("✻ Thinking…")
    term.wait_for("Considering the question")
    term.wait_for("✻ Thought for")
    term.wait_for_prompt(2)
    text = term.text()
    assert "Considering the question" not in text, "the reasoning collapses to one line"
    assert "42" in text and "**" not in text
    assert "completion" in text and "/ 256k context" in text


def test_a_long_conversation_on_a_small_model_is_trimmed_with_a_warning(launch: Launch, server: FakeMoonshot) -> None:
    term = launch("-m", "moonshot-v1-8k", cols=200)
    term.wait_for_prompt(1)
    for n in range(1, 6):
        server.script(Script(text="word " * 1500))
        term.line(f"question {n}")
        term.wait_for_prompt(n + 1)
    assert "oldest turns are not sent with this message" in term.text()
    assert server.chat_requests()[-1]["messages"][0]["content"] != "question 1"
