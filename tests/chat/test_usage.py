"""Usage and the meter: token counts in every shape, totals, the window of each model."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from kimi_repl.commands import CommandRegistry
from kimi_repl.commands.context import CommandContext
from kimi_repl.config import Settings
from kimi_repl.conversation import Usage
from kimi_repl.narrator import usage_line
from kimi_repl.planner import short_tokens
from kimi_repl.prices import Price, money
from tests.fake import FakeModel, FakeMoonshot, Script
from tests.helpers import CapturedDisplay, session_on


@pytest.fixture
def terminal(settings: Settings) -> tuple[CommandContext, CapturedDisplay]:
    display = CapturedDisplay(terminal=True, width=120)
    return CommandContext.open(settings, display), display


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"prompt_tokens": 19, "completion_tokens": 13, "total_tokens": 32}, Usage(19, 13, 0)),
        ({"prompt_tokens": 19, "completion_tokens": 13, "cached_tokens": 8}, Usage(19, 13, 8)),
        ({"prompt_tokens": 5, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 4}}, Usage(5, 1, 4)),
        ({"prompt_tokens": "x", "completion_tokens": None}, Usage(0, 0, 0)),
        (
            {"prompt_tokens": 9, "completion_tokens": 70, "completion_tokens_details": {"reasoning_tokens": 60}},
            Usage(9, 70, 0, 60),
        ),
        (
            {"prompt_tokens": 9, "completion_tokens": 7, "cached_tokens": 3, "prompt_tokens_details": {"x": 1}},
            Usage(9, 7, 3),
        ),
    ],
)
def test_usage_is_read_in_every_shape(record: dict[str, object], expected: Usage) -> None:
    assert Usage.from_record(record) == expected
    assert Usage.from_record(None) is None


def test_usage_line_shows_tokens_and_how_full_the_window_is() -> None:
    line = usage_line(Usage(12_000, 345, 1_024), 131_072)
    assert line == "↑ 12.0k prompt · ↓ 345 completion · 1.0k cached · 12.3k / 128k context (9%)"
    line = usage_line(Usage(12_000, 1_345, 0, 1_000), 262_144, thinking="thinking on")
    assert line == "↑ 12.0k prompt · ↓ 1.3k completion (1.0k reasoning) · thinking on · 13.3k / 256k context (5%)"
    assert short_tokens(262_144) == "256k" and short_tokens(8_192) == "8k" and short_tokens(999) == "999"


@pytest.mark.parametrize("style", ["choice", "top", "both"])
def test_usage_line_after_each_reply_matches_the_server(
    terminal: tuple[CommandContext, CapturedDisplay], server: FakeMoonshot, style: str
) -> None:
    session, display = terminal
    server.script(Script(text="hi there", usage_style=style, cached_tokens=2))
    turn = session.chat.send("hello")
    assert turn is not None and turn.usage is not None
    usage = turn.usage
    assert usage is not None and usage.cached == 2 and usage.reasoning > 0
    completion = f"↓ {usage.completion} completion ({usage.reasoning} reasoning)"
    assert f"↑ {usage.prompt} prompt · {completion} · 2 cached · thinking on" in display.output
    assert "/ 256k context" in display.output


def test_usage_totals_for_the_session(
    registry: CommandRegistry, session: CommandContext, display: CapturedDisplay
) -> None:
    registry.dispatch(session, "/usage")
    assert "No usage reported yet." in display.output
    first, second = session.chat.send("one"), session.chat.send("two")
    assert first is not None and second is not None and first.usage and second.usage
    registry.dispatch(session, "/usage")
    prompt = first.usage.prompt + second.usage.prompt
    assert re.search(r"replies +2\b", display.output)
    assert re.search(rf"prompt tokens +{prompt:,}\b", display.output)
    assert "of 256k" in display.output


def test_window_comes_from_models_when_the_server_reports_it(session: CommandContext, server: FakeMoonshot) -> None:
    server.models["kimi-custom"] = FakeModel(65_536)
    assert session.chat.profile("kimi-custom").window == 65_536  # unknown to the table: asked the server
    assert session.chat.profile("moonshot-v1-8k").window == 8_192
    assert session.chat.profile("kimi-k3").window == 1_048_576
    assert session.chat.profile("no-such-model").window is None


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


def test_the_prompt_cache_serves_what_a_session_sends_again(
    terminal: tuple[CommandContext, CapturedDisplay], server: FakeMoonshot
) -> None:
    session, display = terminal
    first = session.chat.send("one")
    second = session.chat.send("two")
    assert first is not None and second is not None and first.usage and second.usage
    keys = {body.get("prompt_cache_key") for body in server.chat_requests()}
    assert keys == {session.chat.conversation.id}, "every request of the session under its id"
    assert first.usage.cached == 0 and 0 < second.usage.cached < second.usage.prompt
    assert f"{second.usage.cached} cached" in display.output


def test_a_reply_and_the_session_cost_what_the_configured_price_says(
    registry: CommandRegistry, settings: Settings, server: FakeMoonshot
) -> None:
    price = Price(miss=2.0, hit=0.5, output=8.0, currency="CNY")
    display = CapturedDisplay(terminal=True, width=160)
    session = CommandContext.open(replace(settings, prices={"kimi-k2.6": price}), display)
    first, second = session.chat.send("one"), session.chat.send("two")
    assert first is not None and second is not None and first.usage and second.usage
    assert second.usage.cached > 0
    assert f"· {money(price.cost(first.usage), 'CNY')}" in display.output
    assert f"· {money(price.cost(second.usage), 'CNY')}" in display.output
    registry.dispatch(session, "/usage")
    total = money(price.cost(first.usage) + price.cost(second.usage), "CNY")
    assert re.search(rf"cost\W+{re.escape(total)} *\n", re.sub(r"\x1b\[[0-9;]*m", "", display.output))


def test_a_model_without_a_known_price_shows_tokens_only(
    registry: CommandRegistry, session: CommandContext, display: CapturedDisplay
) -> None:
    session.chat.send("one")
    assert "¥" not in display.output and "$" not in display.output
    registry.dispatch(session, "/usage")
    assert re.search(r"cost +unknown: no price is known for these models \(\[prices", display.output)


def test_a_searched_reply_says_its_cost_leaves_out_the_search_fees(
    registry: CommandRegistry, settings: Settings, server: FakeMoonshot
) -> None:
    display = CapturedDisplay(terminal=True, width=200)
    session = CommandContext.open(replace(settings, prices={"kimi-k2.6": Price(2.0, 0.5, 8.0, "CNY")}), display)
    registry.dispatch(session, "/web on")
    turn = session.chat.send("what is new today?")
    assert turn is not None and turn.searches
    assert "+ search fees" in display.output
    registry.dispatch(session, "/usage")
    assert "(web search calls not counted)" in re.sub(r"\x1b\[[0-9;]*m", "", display.output)
