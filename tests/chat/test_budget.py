"""The reply budget: long answers arrive whole, the budget fits the window, a cut reply says why."""

from __future__ import annotations

from kimi_repl.commands.context import CommandContext
from tests.fake import TEST_KEY, FakeMoonshot, Script, markdown_sample
from tests.helpers import CapturedDisplay, session_on


def test_a_long_answer_on_kimi_k2_6_arrives_whole_reasoning_and_all(
    session: CommandContext, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    answer = markdown_sample(20)
    server.script(Script(reasoning="Plan the answer. " * 200, text=answer, chunk_chars=400))
    turn = session.chat.send("write 20 KB")
    assert turn is not None and turn.content == answer and turn.finish_reason == "stop"
    assert "cut short" not in display.output


def test_a_long_answer_on_an_8k_model_gets_a_budget_that_fits_the_window(
    server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session = session_on(server, display, model="moonshot-v1-8k")
    answer = "word " * 5_000  # about 6,000 tokens
    server.script(Script(text=answer, chunk_chars=500))
    turn = session.chat.send("a long one")
    assert turn is not None and turn.content == answer and turn.finish_reason == "stop"
    body = server.chat_requests()[-1]
    assert 6_000 < body["max_completion_tokens"] < 8_192


def test_the_budget_shrinks_as_the_conversation_fills_the_window(
    server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session = session_on(server, display, model="moonshot-v1-8k")
    budgets = []
    for n in range(3):
        server.script(Script(text="word " * 800))
        assert session.chat.send(f"question {n}") is not None
        budgets.append(server.chat_requests()[-1]["max_completion_tokens"])
    assert budgets[0] > budgets[1] > budgets[2] >= 1024


def test_without_a_budget_the_server_stops_at_1024_tokens_thinking_included(server: FakeMoonshot) -> None:
    """What kimi-repl used to get: the fake server models Moonshot's default budget."""
    from openai import OpenAI

    client = OpenAI(api_key=TEST_KEY, base_url=server.base_url, max_retries=0)
    server.script(Script(reasoning="think " * 700, text="the answer " * 100))
    reply = client.chat.completions.create(model="kimi-k2.6", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].finish_reason == "length" and reply.choices[0].message.content == ""


def test_a_smaller_cap_is_respected_and_the_cut_reply_suggests_continue(
    server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session = session_on(server, display, model="moonshot-v1-128k", max_tokens=50)
    server.script(Script(text="word " * 400))
    turn = session.chat.send("go")
    assert turn is not None and turn.finish_reason == "length"
    assert server.chat_requests()[-1]["max_completion_tokens"] == 50
    assert "budget of 50 tokens (kimi-repl --max-tokens N raises it) and was cut short: /continue" in display.output


def test_a_budget_spent_thinking_says_so_and_keeps_the_conversation_alternating(
    server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session = session_on(server, display, max_tokens=60)
    server.script(Script(reasoning="ponder " * 100, text="42"))
    assert session.chat.send("deep question") is None
    assert "spent the whole reply budget (60 tokens) thinking" in display.output
    assert "/thinking off" in display.output and session.chat.conversation.turns == []
    assert session.state.take_pending_input() == "deep question"
