"""Which model a message goes to and what it is sent: the server's default, the older lineup, plain OpenAI-compatible
servers, fixed sampling.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kimi_repl.commands import CommandRegistry
from kimi_repl.commands.context import CommandContext
from tests.fake import TEST_KEY, FakeModel, FakeMoonshot
from tests.helpers import CapturedDisplay, session_on


@pytest.fixture
def legacy() -> Iterator[FakeMoonshot]:
    with FakeMoonshot(lineup="legacy") as fake:
        yield fake
    assert not fake.errors


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


def test_every_request_of_a_conversation_carries_its_cache_key(
    registry: CommandRegistry, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    """Moonshot's prompt cache is shared by requests with one ``prompt_cache_key``: the session's id, as Moonshot's
    own client sends it; a new conversation gets its own."""
    session = session_on(server, display)
    session.chat.send("one")
    session.chat.send("two")
    registry.dispatch(session, "/retry")
    first_id = session.chat.conversation.id
    registry.dispatch(session, "/clear")
    session.chat.send("three")
    keys = [body.get("prompt_cache_key") for body in server.chat_requests()]
    assert keys[:3] == [first_id] * 3
    assert keys[3] == session.chat.conversation.id != first_id


def test_a_server_that_refuses_the_cache_key_is_asked_again_without_it(
    legacy: FakeMoonshot, display: CapturedDisplay
) -> None:
    legacy.accepts_cache_key = False
    session = session_on(legacy, display)
    assert session.chat.send("one") is not None and session.chat.send("two") is not None
    sent = legacy.chat_requests()
    assert "prompt_cache_key" in sent[0] and all("prompt_cache_key" not in body for body in sent[-2:])
    assert "prompt_cache_key" not in display.output
