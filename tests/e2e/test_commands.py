"""End to end: slash-commands typed in a real terminal: /model, /temperature, /system, tab completion."""

from __future__ import annotations

from tests.fake import FakeMoonshot
from tests.helpers import Launch


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
