"""End to end: the installed ``kimi-repl`` in a pseudo-terminal against the fake server, read off the screen."""

from __future__ import annotations

import re

from tests.conftest import Launch
from tests.fake_server import FakeMoonshot, Script, markdown_sample


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


def test_model_switch_shows_in_the_prompt_and_the_request(launch: Launch, server: FakeMoonshot) -> None:
    term = launch("-m", "moonshot-v1-32k")
    term.wait_for("moonshot-v1-32k ›")
    term.line("/model")
    term.wait_for("Model: moonshot-v1-32k")
    term.wait_for_prompt(2)
    term.line("/model moonshot-v1-8k")
    term.wait_for("moonshot-v1-8k ›")
    term.line("hi")
    term.wait_for("Echo 1: hi")
    assert server.chat_requests()[-1]["model"] == "moonshot-v1-8k"
    term.line("/exit")
    assert term.exit_status() == 0


def test_tab_completes_commands_and_model_names(launch: Launch, server: FakeMoonshot) -> None:
    term = launch()
    term.wait_for_prompt(1)
    term.type("/mode")
    term.type("\t")
    term.wait_for("/models")  # the menu offers both
    term.type(" kimi-k2.7")
    term.wait_for("kimi-k2.7-code-highspeed")
    term.ctrl("c")
    term.wait_for_prompt(2)
    term.line("/quit")
    assert term.exit_status() == 0


def test_temperature_refuses_bad_values_and_sends_good_ones(launch: Launch, server: FakeMoonshot) -> None:
    term = launch("-m", "moonshot-v1-32k")
    term.wait_for_prompt(1)
    term.line("/temperature 1.5")
    term.wait_for("✗ Temperature must be between 0 and 1")
    term.wait_for_prompt(2)
    term.line("/temperature hot")
    term.wait_for("not 'hot'; it stays 0.3")
    term.wait_for_prompt(3)
    term.line("/temperature 0.2")
    term.wait_for("Temperature: 0.2")
    term.wait_for_prompt(4)
    term.line("hi")
    term.wait_for("Echo 1: hi")
    assert server.chat_requests()[-1]["temperature"] == 0.2


def test_system_prompt_is_sent_first_and_can_be_cleared(launch: Launch, server: FakeMoonshot) -> None:
    term = launch("-s", "You are a poet.")
    term.wait_for_prompt(1)
    term.line("/system")
    term.wait_for("You are a poet.")
    term.wait_for_prompt(2)
    term.line("/system 用中文回答。")
    term.wait_for("System prompt set")
    term.wait_for_prompt(3)
    term.line("hi")
    term.wait_for("Echo 1: hi")
    assert server.chat_requests()[-1]["messages"][0] == {"role": "system", "content": "用中文回答。"}
    term.wait_for_prompt(4)
    term.line("/system clear")
    term.wait_for("System prompt removed.")
    term.wait_for_prompt(5)
    term.line("again")
    term.wait_for("Echo 2: again")
    assert server.chat_requests()[-1]["messages"][0]["role"] == "user"


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


def test_no_key_is_one_clear_line_and_status_two(launch: Launch) -> None:
    term = launch(MOONSHOT_API_KEY="")
    assert term.exit_status() == 2
    text = term.log().strip()
    assert "MOONSHOT_API_KEY" in text and "MOONSHOT_API_KEY=sk-..." in text
    assert len(text.splitlines()) == 1


def test_version_and_help(launch: Launch) -> None:
    version = launch("--version")
    assert version.exit_status() == 0
    assert "kimi-repl 0." in version.text()
    usage = launch("--help")
    assert usage.exit_status() == 0
    assert "--temperature" in usage.text() and "MOONSHOT_API_KEY" in usage.text()


def test_the_prompt_shows_before_rich_and_the_sdk_are_loaded(launch: Launch, server: FakeMoonshot) -> None:
    """Start-up: the banner and the prompt are prompt_toolkit's alone; the renderer and the SDK load later."""
    term = launch(PYTHONPROFILEIMPORTTIME="1")  # Python reports each import on standard error, as it happens
    term.wait_for_prompt(1)
    before_prompt = term.log().split(" ›")[0]
    assert "kimi-k2.6 · thinking on · /help" in before_prompt
    imported = {line.split("|")[-1].strip() for line in before_prompt.splitlines() if line.startswith("import time")}
    assert "prompt_toolkit" in imported
    assert not {"rich", "rich.console", "openai", "kimi_repl.render", "kimi_repl.markdown"} & imported
    term.line("a **bold** hello")
    term.wait_for("Echo 1: a bold hello")
    term.wait_for_prompt(2)
    term.line("/exit")
    assert term.exit_status() == 0


def test_a_dumb_terminal_gets_the_banner_without_escape_sequences(launch: Launch) -> None:
    term = launch(TERM="dumb")
    term.wait_for("Ctrl-D quit")
    banner = next(line for line in term.raw.decode("utf-8", "replace").splitlines() if "Ctrl-D quit" in line)
    assert "kimi-repl 0." in banner and not re.search(r"\x1b\[[0-9;]*m", banner)  # no colour, no dim, no reset
    term.line("/exit")
    assert term.exit_status() == 0


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
