"""End to end against today's Moonshot API (and the older lineup): default model, long answers, thinking, fixed
sampling, /continue.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fake import FakeMoonshot, Script, markdown_sample
from tests.helpers import Launch


@pytest.fixture
def legacy() -> Iterator[FakeMoonshot]:
    with FakeMoonshot(lineup="legacy") as fake:
        yield fake


def test_with_no_model_configured_the_prompt_and_the_request_use_kimi_k2_6(
    launch: Launch, server: FakeMoonshot
) -> None:
    term = launch()
    term.wait_for("kimi-k2.6 · thinking on")
    term.wait_for_prompt(1)
    assert "kimi-k2.6 ›" in term.text()
    term.line("hello")
    term.wait_for("Echo 1: hello")
    term.wait_for_prompt(2)
    assert "✻ Thought for" in term.text() and "thinking on" in term.text()
    body = server.chat_requests()[-1]
    assert (body["model"], body["max_completion_tokens"], body["thinking"]) == (
        "kimi-k2.6",
        32_768,
        {"type": "enabled"},
    )


def test_on_the_older_lineup_the_prompt_switches_to_the_model_the_server_has(
    launch: Launch, legacy: FakeMoonshot
) -> None:
    term = launch(to=legacy)
    term.wait_for("kimi-k2-turbo-preview ›", timeout=20)
    assert "kimi-k2.6 is not offered" in term.text()
    term.line("hello")
    term.wait_for("Echo 1: hello")
    assert legacy.chat_requests()[-1]["model"] == "kimi-k2-turbo-preview"
    assert legacy.chat_requests()[-1]["max_tokens"] == 32_768


def test_a_discontinued_model_is_flagged_before_the_first_message_and_refused_in_one_line(
    launch: Launch, server: FakeMoonshot
) -> None:
    term = launch("-m", "kimi-k2-turbo-preview")
    term.wait_for("kimi-k2-turbo-preview is not a model this server lists", timeout=20)
    term.line("hello")
    term.wait_for("no model 'kimi-k2-turbo-preview' (404")
    term.wait_for_prompt(2)
    assert "Current models: kimi-k2.6, kimi-k2.5" in term.text()
    term.line("/model kimi-k2.6")
    term.wait_for("kimi-k2.6 ›")
    term.line("hello again")
    term.wait_for("Echo 1: hello again")


def test_a_20_kb_answer_on_kimi_k2_6_arrives_whole(launch: Launch, server: FakeMoonshot) -> None:
    answer = markdown_sample(20) + "THE VERY END.\n"
    server.script(Script(reasoning="Planning. " * 300, text=answer, chunk_chars=200))
    term = launch()
    term.wait_for_prompt(1)
    term.line("write a lot")
    term.wait_for("THE VERY END.", timeout=30)
    term.wait_for_prompt(2)
    assert "cut short" not in term.text()


def test_a_long_answer_on_moonshot_v1_8k_arrives_whole(launch: Launch, server: FakeMoonshot) -> None:
    server.script(Script(text="word " * 5_000 + "\n\nTHE VERY END.\n", chunk_chars=400))
    term = launch("-m", "moonshot-v1-8k")
    term.wait_for_prompt(1)
    term.line("a long one")
    term.wait_for("THE VERY END.", timeout=30)
    term.wait_for_prompt(2)
    assert "cut short" not in term.text()
    assert 6_000 < server.chat_requests()[-1]["max_completion_tokens"] < 8_192


def test_thinking_off_then_on(launch: Launch, server: FakeMoonshot) -> None:
    term = launch()
    term.wait_for_prompt(1)
    term.line("/thinking off")
    term.wait_for("Thinking: off for kimi-k2.6")
    term.line("quick")
    term.wait_for("Echo 1: quick")
    term.wait_for("thinking off ·")
    term.wait_for_prompt(3)
    term.line("/thinking on")
    term.wait_for("Thinking: on for kimi-k2.6")
    term.line("slow")
    term.wait_for("Echo 2: slow")
    term.wait_for_prompt(5)
    first, second = server.chat_requests()
    assert (first["thinking"]["type"], second["thinking"]["type"]) == ("disabled", "enabled")
    assert term.text().count("✻ Thought for") == 1


def test_thinking_off_flag_and_a_model_that_always_thinks(launch: Launch, server: FakeMoonshot) -> None:
    term = launch("--thinking", "off", "-m", "kimi-k2.7-code")
    term.wait_for("kimi-k2.7-code · thinking always")
    term.wait_for_prompt(1)
    term.line("/thinking off")
    term.wait_for("✗ kimi-k2.7-code always thinks: it cannot be switched off. Nothing changed.")
    term.line("refactor")
    term.wait_for("Echo 1: refactor")
    term.wait_for_prompt(3)
    assert "thinking" not in server.chat_requests()[-1]
    term.line("/model kimi-k2.6")
    term.wait_for("Model: kimi-k2.6 · thinking off")  # the flag's choice applies where it can


def test_temperature_on_a_fixed_sampling_model_says_what_it_uses(launch: Launch, server: FakeMoonshot) -> None:
    term = launch()
    term.wait_for_prompt(1)
    term.line("/temperature 0.2")
    term.wait_for("kimi-k2.6 uses 1 with thinking on and refuses any other, so none is sent")
    term.line("hi")
    term.wait_for("Echo 1: hi")
    assert "temperature" not in server.chat_requests()[-1]


def test_kimi_k3s_window_shows_in_the_meter(launch: Launch, server: FakeMoonshot) -> None:
    term = launch("-m", "kimi-k3")
    term.wait_for_prompt(1)
    term.line("hello")
    term.wait_for("/ 1M context")
    assert "thinking always" in term.text()


def test_continue_after_a_cut_finishes_the_answer_as_one_turn(launch: Launch, server: FakeMoonshot) -> None:
    answer = markdown_sample(2) + "THE VERY END.\n"
    server.script(Script(text=answer))
    term = launch("--max-tokens", "300", "-m", "moonshot-v1-32k")
    term.wait_for_prompt(1)
    term.line("write")
    term.wait_for("and was cut short: /continue")
    prompts = 2
    while "THE VERY END." not in term.text():
        term.wait_for_prompt(prompts)
        term.line("/continue")
        prompts += 1
    term.wait_for_prompt(prompts)
    term.line("/history")
    term.wait_for("Conversation")
    term.settle()
    history = term.text().rsplit("Conversation", 1)[1]
    assert "1  you" in history and "2  kimi" in history and "3  " not in history
    assert server.chat_requests()[-1]["messages"][-1]["partial"] is True
