"""Switching model mid-conversation: after pictures, documents and long histories; a retry on another model goes just
once.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from kimi_repl.commands import CommandRegistry
from kimi_repl.commands.context import CommandContext
from kimi_repl.config import Settings
from tests.fake import FakeMoonshot, Script
from tests.helpers import CapturedDisplay, png_bytes, sent


def refusals(server: FakeMoonshot) -> list[str]:
    """What the fake refused as Moonshot would (a 400 for the request's shape)."""
    return [e for e in server.errors if "refused" in e]


def with_picture(session: CommandContext, registry: CommandRegistry, tmp_path: Path) -> None:
    picture = tmp_path / "cat.png"
    picture.write_bytes(png_bytes())
    registry.dispatch(session, f"/image {picture}")
    assert session.chat.send("what is this?") is not None


def test_a_picture_then_a_text_only_model_names_it_and_every_request_is_accepted(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, display: CapturedDisplay, tmp_path: Path
) -> None:
    with_picture(session, registry, tmp_path)
    display.forget()
    registry.dispatch(session, "/model moonshot-v1-8k")
    assert "moonshot-v1-8k takes no pictures: the picture so far goes as its name" in display.output
    for text in ("and now?", "again?"):
        reply = session.chat.send(text)
        assert reply is not None and reply.content.startswith("Echo"), display.output
    first = sent(server)[0]
    assert first == {"role": "user", "content": "what is this?\n\n[picture not shown here: cat.png]"}
    assert display.output.count("takes no pictures: the 1 picture in this conversation go as their names") == 1
    registry.dispatch(session, "/model kimi-k2.6")
    session.chat.send("and with eyes?")
    content = sent(server)[0]["content"]
    assert isinstance(content, list) and content[1]["type"] == "image_url"  # the picture goes again


def test_retry_with_a_text_only_model_after_a_picture_is_accepted_and_changes_nothing_after(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, display: CapturedDisplay, tmp_path: Path
) -> None:
    with_picture(session, registry, tmp_path)
    registry.dispatch(session, "/retry moonshot-v1-128k")
    assert session.chat.conversation.turns[-1].model == "moonshot-v1-128k"
    assert "Moonshot refused" not in display.output
    session.chat.send("next")
    assert server.chat_requests()[-1]["model"] == "kimi-k2.6"
    assert sent(server)[0]["content"][1]["type"] == "image_url"  # type: ignore[index]


def test_the_older_lineup_never_gets_a_picture_its_profile_refuses(
    registry: CommandRegistry, settings: Settings, display: CapturedDisplay, tmp_path: Path
) -> None:
    with FakeMoonshot(lineup="legacy") as legacy:
        session = CommandContext.open(replace(settings, base_url=legacy.base_url, model="kimi-latest"), display)
        with_picture(session, registry, tmp_path)
        registry.dispatch(session, "/model kimi-k2-turbo-preview")
        assert session.chat.send("and now?") is not None
        assert sent(legacy)[0]["content"] == "what is this?\n\n[picture not shown here: cat.png]"


def big_exchanges(session: CommandContext, server: FakeMoonshot, count: int) -> None:
    for n in range(count):
        server.script(Script(text=f"reply {n} " + "word " * 1500))
        assert session.chat.send(f"question {n}") is not None


def test_turns_left_out_for_a_small_window_go_again_to_a_large_one(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    big_exchanges(session, server, 4)
    registry.dispatch(session, "/model moonshot-v1-8k")
    assert "window does not hold the whole conversation" in display.output
    session.chat.send("small one")
    assert "oldest turns are not sent with this message" in display.output
    assert len(sent(server)) < 9
    registry.dispatch(session, "/history")
    assert "not sent" in display.output
    display.forget()
    registry.dispatch(session, "/model kimi-k2.6")
    session.chat.send("big one")
    assert len(sent(server)) == 11  # everything again
    assert "older turns left out before are sent again" in display.output
    assert session.chat.conversation.context_start == 0


def test_retry_with_a_small_model_is_just_once(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    big_exchanges(session, server, 4)
    registry.dispatch(session, "/retry moonshot-v1-8k")
    assert server.chat_requests()[-1]["model"] == "moonshot-v1-8k"
    retried = server.chat_requests()[-1]["messages"]
    assert retried[-1]["content"] == "question 3" and len(retried) == 7  # it fits once the old reply is not counted
    assert session.chat.conversation.turns[-1].model == "moonshot-v1-8k"
    session.chat.send("next")
    assert server.chat_requests()[-1]["model"] == "kimi-k2.6"
    assert len(sent(server)) == 9 and session.chat.conversation.context_start == 0


def test_a_document_too_big_for_the_new_model_is_named_with_the_way_out(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, display: CapturedDisplay, tmp_path: Path
) -> None:
    document = tmp_path / "report.txt"
    document.write_text("Quarterly numbers. " * 2000)  # about 38 KB: fits kimi-k2.6, not moonshot-v1-8k
    registry.dispatch(session, f"/file {document}")
    registry.dispatch(session, "/model moonshot-v1-8k")
    display.forget()
    assert session.chat.send("and now?") is None
    assert "Your document" in display.output and "/file clear removes them" in display.output
    assert "Your message is" not in display.output


def test_a_cut_is_blamed_on_the_budget_or_on_the_model(
    settings: Settings, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    session = CommandContext.open(replace(settings, model="moonshot-v1-128k"), display)
    server.script(Script(text="A short answer that the model itself stopped", finish_reason="length"))
    session.chat.send("go")
    assert "stopped at its own output limit after" in display.output and "budget was 32,768" in display.output
    display.forget()
    capped = CommandContext.open(replace(settings, model="moonshot-v1-128k", max_tokens=50), display)
    server.script(Script(text="word " * 400))
    capped.chat.send("go")
    assert "reached its budget of 50 tokens" in display.output
