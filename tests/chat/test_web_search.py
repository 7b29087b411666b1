"""Moonshot's $web_search against the fake server: rounds, limits, thinking, /web on and off, retry."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from kimi_repl.chat.replier import MAX_TOOL_ROUNDS
from kimi_repl.commands import CommandError, CommandRegistry
from kimi_repl.commands.context import CommandContext
from kimi_repl.config import Settings
from kimi_repl.conversation import Usage
from kimi_repl.sessions import load_file
from kimi_repl.transcript import to_markdown
from tests.fake import FakeMoonshot
from tests.helpers import CapturedDisplay, saved_session


def test_a_web_search_round_trip(
    registry: CommandRegistry, settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session = saved_session(settings, display, web=True, thinking=False)
    turn = session.chat.send("latest kimi news")
    assert turn is not None and turn.content == "Echo 1: latest kimi news"
    asked, answered = server.chat_requests()
    assert asked["tools"] == [{"type": "builtin_function", "function": {"name": "$web_search"}}]
    call_message, tool_message = answered["messages"][-2:]
    call = call_message["tool_calls"][0]
    assert call_message["role"] == "assistant" and call["function"]["name"] == "$web_search"
    assert tool_message == {
        "role": "tool",
        "tool_call_id": call["id"],
        "name": "$web_search",
        "content": call["function"]["arguments"],  # the arguments, unchanged
    }
    assert answered["max_completion_tokens"] < asked["max_completion_tokens"]  # the results take room
    assert [s["query"] for s in turn.searches] == ["latest kimi news"]
    assert "⌕ Searching the web for “latest kimi news”" in display.output
    assert turn.spent is not None and turn.spent.prompt > (turn.usage or Usage()).prompt
    registry.dispatch(session, "/usage")
    assert re.search(r"web searches +1\b", display.output)
    assert session.chat.log is not None
    reloaded, _ = load_file(session.chat.log.path)
    assert reloaded.turns[-1].searches == turn.searches and reloaded.web
    assert "🔍 searched the web: latest kimi news" in to_markdown(reloaded)
    session.chat.send("and then?")
    later = server.chat_requests()[-1]["messages"]
    question = max(i for i, m in enumerate(later) if m["role"] == "user")
    assert [m["role"] for m in later[:question]] == ["user", "assistant"]  # past search rounds are not resent


def test_several_searches_then_an_answer(settings: Settings, server: FakeMoonshot, display: CapturedDisplay) -> None:
    server.search_rounds = 3
    session = CommandContext.open(replace(settings, web=True, thinking=False), display)
    turn = session.chat.send("dig deep")
    assert turn is not None and len(turn.searches) == 3 and len(server.chat_requests()) == 4


def test_searching_without_end_is_stopped(settings: Settings, server: FakeMoonshot, display: CapturedDisplay) -> None:
    server.search_rounds = 100
    session = CommandContext.open(replace(settings, web=True, thinking=False), display)
    assert session.chat.send("forever") is None
    assert "kept searching" in display.output and len(server.chat_requests()) == MAX_TOOL_ROUNDS + 1
    assert session.chat.conversation.turns == []


def test_a_thinking_model_sends_its_reasoning_with_the_search_call(
    settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session = CommandContext.open(replace(settings, web=True), display)
    assert session.chat.send("think and search") is not None
    asked = server.chat_requests()[-1]["messages"][-2]
    assert asked["tool_calls"] and asked["reasoning_content"]  # Moonshot requires it when thinking is on


def test_when_thinking_while_searching_is_refused_thinking_goes_off_for_searches(
    settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    server.search_refuses_thinking = True
    session = CommandContext.open(replace(settings, web=True), display)
    turn = session.chat.send("search please")
    assert turn is not None and turn.content == "Echo 1: search please" and turn.thinking is False
    refused, *rest = server.chat_requests()
    assert refused["thinking"] == {"type": "enabled"}
    assert all(body["thinking"] == {"type": "disabled"} for body in rest)
    assert display.output.count("think while it searches") == 1
    session.chat.send("again")
    assert server.chat_requests()[-1]["thinking"] == {"type": "disabled"}  # remembered: no second refusal


def test_a_model_that_always_thinks_cannot_search_where_that_is_refused(
    settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    server.search_refuses_thinking = True
    session = CommandContext.open(replace(settings, web=True, model="kimi-k2.7-code"), display)
    assert session.chat.send("search please") is None
    assert "/web off" in display.output and session.chat.conversation.turns == []


def test_web_on_and_off(registry: CommandRegistry, session: CommandContext, server: FakeMoonshot) -> None:
    registry.dispatch(session, "/web on")
    session.chat.choose(thinking=False)
    session.chat.send("one")
    registry.dispatch(session, "/web off")
    session.chat.send("two")
    bodies = server.chat_requests()
    assert "tools" in bodies[0] and "tools" not in bodies[-1]
    with pytest.raises(CommandError, match="on or off"):
        registry.dispatch(session, "/web sometimes")


def test_retry_searches_again(registry: CommandRegistry, settings: Settings, server: FakeMoonshot) -> None:
    session = CommandContext.open(replace(settings, web=True, thinking=False), CapturedDisplay())
    session.chat.send("news")
    registry.dispatch(session, "/retry")
    assert len(server.chat_requests()) == 4 and len(session.chat.conversation.turns) == 2
