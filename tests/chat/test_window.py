"""The context window: old turns left out (never the system prompt), estimates, context-too-long errors, /compact."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from kimi_repl.commands import CommandRegistry
from kimi_repl.commands.context import CommandContext
from kimi_repl.config import Settings, sessions_dir
from kimi_repl.planner import local_estimate
from kimi_repl.sessions import SessionStore, load_file
from kimi_repl.transcript import from_json, from_markdown, to_json, to_markdown
from tests.fake import FakeMoonshot, Script
from tests.helpers import CapturedDisplay, png_bytes, sent


def small_window_session(settings: Settings, display: CapturedDisplay) -> CommandContext:
    session = CommandContext.open(replace(settings, model="moonshot-v1-8k"), display)
    session.chat.choose(system="You are terse.")
    return session


def test_a_conversation_past_the_window_drops_the_oldest_turns_but_never_the_system_prompt(
    settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session = small_window_session(settings, display)
    for n in range(6):
        server.script(Script(text=f"reply {n} " + "word " * 1500))
        assert session.chat.send(f"question {n}") is not None
    sent = server.chat_requests()[-1]["messages"]
    assert sent[0] == {"role": "system", "content": "You are terse."}
    assert sent[-1] == {"role": "user", "content": "question 5"}
    assert [m["role"] for m in sent[1:]] == ["user", "assistant"] * (len(sent[1:]) // 2) + ["user"]
    assert len(sent) < 12
    assert "oldest turns are not sent with this message" in display.output
    assert session.chat.sent_from > 0 and session.chat.conversation.context_start == 0, (
        "decided per request, not for good"
    )
    assert len(session.chat.conversation.turns) == 12, "dropped turns stay in the conversation"
    assert any(r.path == "/v1/tokenizers/estimate-token-count" for r in server.requests)
    assert all(body["messages"] and local_estimate(body["messages"]) < 8192 for body in server.chat_requests())


def test_the_local_estimate_is_used_when_the_server_cannot_count(
    settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    server.estimate_status = 500
    session = small_window_session(settings, display)
    for n in range(6):
        server.script(Script(text="word " * 1500))
        assert session.chat.send(f"question {n}") is not None
    assert session.chat.sent_from > 0
    assert "Internal server error" not in display.output


def test_a_context_too_long_error_when_the_input_fits_shrinks_the_budget_and_sends_again(
    settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session = small_window_session(settings, display)
    session.chat.send("one")
    server.script(Script(status=400, message="Invalid request: Your request exceeded model token limit: 8192"))
    turn = session.chat.send("two")
    assert turn is not None and turn.content == "Echo 2: two"  # nothing dropped
    first, second = server.chat_requests()[-2:]
    assert second["max_completion_tokens"] < first["max_completion_tokens"]
    assert "refused" not in display.output


def test_a_context_too_long_error_drops_old_turns_and_sends_again(
    settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    server.estimate_status = 500  # the server cannot count: the local estimate is all there is
    session = small_window_session(settings, display)
    session.chat.send("one")
    session.chat.send("two")
    server.script(Script(status=400, message="Invalid request: Your request exceeded model token limit: 8192"))
    turn = session.chat.send("three")
    assert turn is not None and turn.content == "Echo 2: three"  # the retry sent 2 user turns, not 3
    assert "refused the request as too long" in display.output
    assert [m["content"] for m in server.chat_requests()[-1]["messages"]][1:] == ["two", "Echo 2: two", "three"]


def test_leaving_out_an_exchange_of_pictures_does_not_undercount_what_is_left(
    registry: CommandRegistry, settings: Settings, server: FakeMoonshot, display: CapturedDisplay, tmp_path: Path
) -> None:
    """Found by the state machine: pictures count differently from text, so the size left after dropping an
    exchange of pictures was scaled too low and the budget overran a small window."""
    picture = tmp_path / "cat.png"
    picture.write_bytes(png_bytes())
    notes = tmp_path / "notes.txt"
    notes.write_text("Meeting notes: ship on Friday. " * 40)
    session = CommandContext.open(settings, display)
    for _ in range(4):
        registry.dispatch(session, f"/image {picture}")
    registry.dispatch(session, f"/file {notes}")
    server.script(Script(text="word " * 1800))
    session.chat.send("hi")
    server.script(Script(text="This answer stops in the middle of", finish_reason="length"))
    session.chat.send("tell me more")
    registry.dispatch(session, "/retry moonshot-v1-8k-vision-preview")
    assert server.refused == []
    assert not session.chat.conversation.turns[-1].unfinished


def test_a_message_too_long_on_its_own_is_one_line(
    settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session = small_window_session(settings, display)
    assert session.chat.send("word " * 40_000) is None
    assert "too long" in display.output
    assert session.chat.conversation.turns == []


def test_compact_drops_the_oldest_turns_on_demand(
    registry: CommandRegistry, settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session = small_window_session(settings, display)
    registry.dispatch(session, "/compact")
    assert "Nothing to drop" in display.output
    for n in range(4):
        server.script(Script(text="word " * 1000))
        session.chat.send(f"q{n}")
    assert session.chat.conversation.context_start == 0
    registry.dispatch(session, "/compact")
    assert "oldest turns are not sent any more" in display.output
    assert session.chat.conversation.context_start >= 2
    registry.dispatch(session, "/history")
    assert "not sent" in display.output
    session.chat.send("next")
    sent = server.chat_requests()[-1]["messages"]
    assert sent[1]["content"] != "q0"


def test_dropped_turns_survive_a_session_file_and_both_transcripts(
    settings: Settings, server: FakeMoonshot, display: CapturedDisplay, isolated_user: Path
) -> None:
    session = CommandContext.open(
        replace(settings, model="moonshot-v1-8k"), display, store=SessionStore(sessions_dir(), secret=None)
    )
    for n in range(5):
        server.script(Script(text="word " * 1500))
        session.chat.send(f"q{n}")
    conversation = session.chat.conversation
    assert session.chat.sent_from > 0 and session.chat.log is not None
    assert load_file(session.chat.log.path)[0] == conversation and len(conversation.turns) == 10
    assert from_json(to_json(conversation), "t") == conversation
    assert from_markdown(to_markdown(conversation), "t") == conversation


def test_compact_is_a_choice_that_can_be_taken_back(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session.chat.settings = replace(session.settings, model="moonshot-v1-8k")
    registry.dispatch(session, "/model moonshot-v1-8k")
    for n in range(4):
        server.script(Script(text="word " * 1000))
        session.chat.send(f"q{n}")
    registry.dispatch(session, "/compact")
    start = session.chat.conversation.context_start
    assert start >= 2 and "/compact off sends them again" in display.output
    session.chat.send("after")
    assert sent(server)[0]["content"] != "q0"
    registry.dispatch(session, "/compact off")
    assert session.chat.conversation.context_start == 0 and f"The {start} oldest turns are sent again" in display.output


def test_a_small_window_keeps_room_for_web_search_results(
    registry: CommandRegistry, settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    """Found by the state machine: with search on, the request after a search carries its results too; the
    plan keeps room for them, so that request still leaves room for an answer."""
    session = CommandContext.open(replace(settings, model="moonshot-v1-8k"), display)
    session.chat.choose(system="Be thorough. " * 430)  # with the turns, the request fills most of the window
    registry.dispatch(session, "/web on")
    for _ in range(2):
        server.script(Script(text="word " * 1800))
        session.chat.send("tell me")
    turn = session.chat.send("and search")
    assert turn is not None and turn.searches
    assert server.refused == []
