"""kimi-repl against the Moonshot API as it is today, and against the older lineup and plainer servers.

Each test drives a :class:`CommandContext` against the fake server in one lineup or the other: the default model
from ``GET /models``, a reply budget on every request, the thinking switch, fixed sampling, ``/continue``.
"""

from __future__ import annotations

import os
import re
import signal
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from kimi_repl.commands import CommandError, CommandRegistry, build_registry
from kimi_repl.commands.context import CommandContext
from kimi_repl.config import Settings, sessions_dir
from kimi_repl.conversation import Usage
from kimi_repl.sessions import SessionStore, load_file
from kimi_repl.transcript import from_json, from_markdown, to_json, to_markdown
from tests.conftest import CapturedDisplay
from tests.fake_server import TEST_KEY, FakeModel, FakeMoonshot, Script, markdown_sample


@pytest.fixture
def registry() -> CommandRegistry:
    return build_registry()


@pytest.fixture
def legacy() -> Iterator[FakeMoonshot]:
    with FakeMoonshot(lineup="legacy") as fake:
        yield fake
    assert not fake.errors


def session_on(server: FakeMoonshot, display: CapturedDisplay, **settings: Any) -> CommandContext:
    values = Settings(api_key=TEST_KEY, base_url=server.base_url, timeout=10.0, max_retries=0)
    return CommandContext.open(replace(values, **settings), display)


def saved_session(settings: Settings, display: CapturedDisplay, **changes: Any) -> CommandContext:
    return CommandContext.open(replace(settings, **changes), display, store=SessionStore(sessions_dir(), secret=None))


# -- the default model -----------------------------------------------------------------------------


def test_with_no_model_configured_the_first_message_goes_to_the_servers_flagship(
    session: CommandContext, server: FakeMoonshot
) -> None:
    turn = session.chat.send("hello")
    assert turn is not None and turn.content == "Echo 1: hello"
    body = server.chat_requests()[-1]
    assert (body["model"], body["thinking"], body["max_completion_tokens"]) == (
        "kimi-k2.6",
        {"type": "enabled"},
        32_768,
    )
    assert "temperature" not in body and session.chat.model == "kimi-k2.6"


def test_the_older_lineup_gets_its_own_default_and_max_tokens(legacy: FakeMoonshot, display: CapturedDisplay) -> None:
    session = session_on(legacy, display)
    expected = f"kimi-k2.6 is not offered by {legacy.base_url}: using kimi-k2-turbo-preview instead."
    assert session.resolve_model() == expected
    assert session.chat.send("one") is not None and session.chat.send("two") is not None
    refused, *sent = legacy.chat_requests()
    assert "max_completion_tokens" in refused  # refused once, then never sent again
    assert [body["model"] for body in sent] == ["kimi-k2-turbo-preview"] * 2
    assert all(body["max_tokens"] == 32_768 and body["temperature"] == 0.6 for body in sent)
    assert all("thinking" not in body for body in sent)


def test_without_a_models_list_the_built_in_default_is_used(server: FakeMoonshot, display: CapturedDisplay) -> None:
    server.models_status = 500
    session = session_on(server, display)
    assert session.resolve_model() is None and session.chat.model == "kimi-k2.6"
    assert session.chat.send("hi") is not None


def test_a_plain_openai_compatible_server_is_sent_its_own_model_with_a_budget_and_nothing_it_might_refuse(
    legacy: FakeMoonshot, display: CapturedDisplay
) -> None:
    """What llama.cpp's server looks like: one model, ids only, max_completion_tokens understood."""
    legacy.models = {"qwen2.5-0.5b-instruct-q4_k_m.gguf": FakeModel(4_096)}
    legacy.accepts_max_completion_tokens = True
    session = session_on(legacy, display)
    assert session.chat.send("hi") is not None
    body = legacy.chat_requests()[-1]
    assert body["model"] == "qwen2.5-0.5b-instruct-q4_k_m.gguf"
    assert body["max_completion_tokens"] == 32_768  # the window is unknown: the cap
    assert "temperature" not in body and "thinking" not in body
    assert session.usage_line(session.chat.conversation.turns[-1]) is not None


def test_a_user_chosen_model_is_never_replaced(server: FakeMoonshot, display: CapturedDisplay) -> None:
    session = session_on(server, display, model="moonshot-v1-32k")
    assert session.resolve_model() is None
    session.chat.send("hi")
    assert server.chat_requests()[-1]["model"] == "moonshot-v1-32k"


# -- the reply budget ------------------------------------------------------------------------------


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


# -- thinking --------------------------------------------------------------------------------------


def test_thinking_off_and_on_for_a_model_that_can_switch(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    registry.dispatch(session, "/thinking off")
    assert "Thinking: off for kimi-k2.6" in display.output
    off = session.chat.send("quick")
    registry.dispatch(session, "/thinking on")
    on = session.chat.send("slow")
    assert off is not None and on is not None
    assert not off.reasoning_content and on.reasoning_content
    first, second = server.chat_requests()
    assert (first["thinking"], second["thinking"]) == ({"type": "disabled"}, {"type": "enabled"})
    assert session.usage_line(off) and "thinking off" in (session.usage_line(off) or "")


@pytest.mark.parametrize(
    ("model", "says"),
    [
        ("kimi-k2.7-code", "kimi-k2.7-code always thinks: it cannot be switched off"),
        ("moonshot-v1-8k", "moonshot-v1-8k does not think"),
        ("local-llama", "local-llama is not a model kimi-repl knows can switch thinking"),
    ],
)
def test_thinking_on_a_model_that_cannot_switch_is_one_line_and_changes_nothing(
    registry: CommandRegistry, settings: Settings, display: CapturedDisplay, model: str, says: str
) -> None:
    session = CommandContext.open(replace(settings, model=model), display)
    with pytest.raises(CommandError, match=says) as caught:
        registry.dispatch(session, "/thinking off")
    assert "\n" not in str(caught.value) and session.chat.conversation.thinking is None


def test_kimi_k2_7_code_always_thinks_and_is_never_sent_a_switch(
    settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session = CommandContext.open(replace(settings, model="kimi-k2.7-code", thinking=False, temperature=0.2), display)
    turn = session.chat.send("refactor this")
    assert turn is not None and turn.reasoning_content
    body = server.chat_requests()[-1]
    assert "thinking" not in body and "temperature" not in body
    assert "thinking always" in (session.usage_line(turn) or "")


def test_the_thinking_choice_is_saved_and_restored_on_resume(
    registry: CommandRegistry, settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session = saved_session(settings, display)
    registry.dispatch(session, "/thinking off")
    session.chat.send("one")
    assert session.chat.log is not None
    conversation, _ = load_file(session.chat.log.path)
    assert conversation.thinking is False and conversation.turns[-1].thinking is False
    session.chat.close()
    resumed = saved_session(settings, CapturedDisplay())
    resumed.chat.resume(session.chat.log.path)
    resumed.chat.send("two")
    assert server.chat_requests()[-1]["thinking"] == {"type": "disabled"}
    assert "**Thinking:** off" in to_markdown(resumed.chat.conversation)


def test_a_fixed_temperature_is_never_sent_and_temperature_says_what_the_model_uses(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    registry.dispatch(session, "/temperature 0.3")
    assert "kimi-k2.6 uses 1 with thinking on and refuses any other, so none is sent" in display.output
    assert session.chat.send("hi") is not None
    assert "temperature" not in server.chat_requests()[-1]


def test_the_fake_server_refuses_fixed_sampling_as_moonshot_does(server: FakeMoonshot) -> None:
    from openai import BadRequestError, OpenAI

    client = OpenAI(api_key=TEST_KEY, base_url=server.base_url, max_retries=0)
    hello = [{"role": "user", "content": "hi"}]
    with pytest.raises(BadRequestError, match="only 1 is allowed for this model"):
        client.chat.completions.create(model="kimi-k2.6", messages=hello, temperature=0.3)  # type: ignore[arg-type]
    with pytest.raises(BadRequestError, match=r"only 0\.6 is allowed for this model"):
        client.chat.completions.create(
            model="kimi-k2.6",
            messages=hello,  # type: ignore[arg-type]
            temperature=1.0,
            extra_body={"thinking": {"type": "disabled"}},
        )
    with pytest.raises(BadRequestError, match="does not support non-thinking mode"):
        client.chat.completions.create(
            model="kimi-k2.7-code",
            messages=hello,  # type: ignore[arg-type]
            extra_body={"thinking": {"type": "disabled"}},
        )


# -- /continue -------------------------------------------------------------------------------------


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


# -- usage and windows -----------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["top", "details"])
def test_usage_shows_cached_and_reasoning_tokens(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, display: CapturedDisplay, style: str
) -> None:
    server.script(Script(text="hi", cached_tokens=5, cached_style=style))
    turn = session.chat.send("hello")
    assert turn is not None
    registry.dispatch(session, "/usage")
    reasoning = (turn.usage or Usage()).reasoning
    assert re.search(r"cached prompt tokens +5\b", display.output)
    assert re.search(rf"reasoning tokens +{reasoning} \(part of the completion\)", display.output)


def test_kimi_k3s_window_is_in_the_meter(settings: Settings, server: FakeMoonshot) -> None:
    display = CapturedDisplay(terminal=True, width=120)
    session = CommandContext.open(replace(settings, model="kimi-k3"), display)
    assert session.chat.send("hello") is not None
    assert "/ 1M context" in display.output and "thinking always" in display.output


def test_the_window_of_a_model_only_the_server_knows_comes_from_models(
    server: FakeMoonshot, display: CapturedDisplay, isolated_user: Path
) -> None:
    server.models["kimi-k4"] = FakeModel(2_097_152, "always", images=True)
    session = session_on(server, display, model="kimi-k4")
    profile = session.chat.profile()
    assert (profile.window, profile.thinking.value, profile.images) == (2_097_152, "always", True)
    assert session.chat.send("hi") is not None
    assert "temperature" not in server.chat_requests()[-1]
