"""The model profile and the request builder: what each model is sent, decided in one place."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kimi_repl.planner import DEFAULT_REPLY_CAP, REPLY_FLOOR, reply_budget
from kimi_repl.profile import DEFAULT_MODEL, Thinking, choose_default, closest, profile_for
from kimi_repl.request import build_request
from kimi_repl.values import check_model_name, parse_on_off, parse_reply_tokens
from tests.fake import CURRENT_MODELS, LEGACY_MODELS

HELLO = [{"role": "user", "content": "hello"}]


# -- the profile -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "window", "thinking", "images", "fixed"),
    [
        ("kimi-k2.6", 262_144, Thinking.SWITCHABLE, True, True),
        ("kimi-k2.5", 262_144, Thinking.SWITCHABLE, True, True),
        ("kimi-k2.7-code", 262_144, Thinking.ALWAYS, True, True),
        ("kimi-k2.7-code-highspeed", 262_144, Thinking.ALWAYS, True, True),
        ("kimi-k3", 1_048_576, Thinking.ALWAYS, False, True),
        ("moonshot-v1-8k", 8_192, Thinking.NEVER, False, False),
        ("moonshot-v1-32k-vision-preview", 32_768, Thinking.NEVER, True, False),
        ("kimi-k2-turbo-preview", 262_144, Thinking.NEVER, False, False),
        ("kimi-k2-thinking", 262_144, Thinking.ALWAYS, False, True),
    ],
)
def test_the_built_in_table_knows_the_lineup(
    model: str, window: int, thinking: Thinking, images: bool, fixed: bool
) -> None:
    profile = profile_for(model)
    assert (profile.window, profile.thinking, profile.images, profile.fixed_sampling) == (
        window,
        thinking,
        images,
        fixed,
    )
    assert profile.source == "built-in"


def test_the_servers_models_entry_comes_first() -> None:
    entry = {"id": "kimi-k2.6", "context_length": 131_072, "supports_reasoning": True, "supports_image_in": False}
    profile = profile_for("kimi-k2.6", entry)
    assert (profile.window, profile.thinking, profile.images) == (131_072, Thinking.SWITCHABLE, False)
    assert profile.fixed_sampling and profile.source == "server + built-in"
    assert profile_for("kimi-k2.6", {**entry, "supports_reasoning": False}).thinking is Thinking.NEVER


def test_a_plain_openai_compatible_entry_changes_nothing() -> None:
    assert profile_for("moonshot-v1-8k", {"id": "moonshot-v1-8k", "object": "model"}) == profile_for("moonshot-v1-8k")


def test_a_new_member_of_a_known_family_takes_the_familys_rules() -> None:
    profile = profile_for("kimi-k2.6-0415-preview")
    assert profile.thinking is Thinking.SWITCHABLE and profile.fixed_sampling and profile.window == 262_144
    assert profile.source == "family kimi-k2.6"


def test_an_id_known_to_nobody_is_sent_no_sampling_parameter_it_might_refuse() -> None:
    profile = profile_for("llama-3.1-8b-instruct.gguf")
    assert not profile.known and profile.window is None and profile.thinking is Thinking.NEVER
    assert profile.temperature_to_send(None) is None  # no recommendation to send
    assert profile.temperature_to_send(0.2) == 0.2  # but what the user chose goes
    reasoning = profile_for("kimi-k9", {"id": "kimi-k9", "context_length": 2_000_000, "supports_reasoning": True})
    assert reasoning.window == 2_000_000 and reasoning.thinking is Thinking.ALWAYS
    assert reasoning.temperature_to_send(0.2) is None and reasoning.source == "server"


@pytest.mark.parametrize(
    ("model", "choice", "thinks", "field", "state"),
    [
        ("kimi-k2.6", None, True, {"type": "enabled"}, "on"),
        ("kimi-k2.6", True, True, {"type": "enabled"}, "on"),
        ("kimi-k2.6", False, False, {"type": "disabled"}, "off"),
        ("kimi-k2.7-code", False, True, None, "always"),
        ("moonshot-v1-8k", True, False, None, "never"),
    ],
)
def test_thinking_follows_the_choice_only_where_the_model_can_switch(
    model: str, choice: bool | None, thinks: bool, field: dict[str, str] | None, state: str
) -> None:
    profile = profile_for(model)
    assert profile.thinks(choice) is thinks
    assert profile.thinking_field(choice) == field
    assert profile.thinking_state(choice) == state


def test_fixed_temperatures_depend_on_the_thinking_state() -> None:
    profile = profile_for("kimi-k2.6")
    assert (profile.fixed_temperature_now(None), profile.fixed_temperature_now(False)) == (1.0, 0.6)
    assert profile.temperature_to_send(0.3) is None
    assert profile_for("kimi-k2-turbo-preview").temperature_to_send(None) == 0.6
    assert profile_for("moonshot-v1-8k").temperature_to_send(None) == 0.3


def test_every_model_the_fake_server_serves_gets_the_same_facts_from_server_and_table() -> None:
    for name, served in {**CURRENT_MODELS, **LEGACY_MODELS}.items():
        entry = {
            "id": name,
            "context_length": served.window,
            "supports_reasoning": served.thinking != "never",
            "supports_image_in": served.images,
        }
        assert profile_for(name, entry).thinking.value == served.thinking, name
        assert profile_for(name).window == served.window, name


# -- the default model and the closest names --------------------------------------------------------


def test_the_default_model_is_the_first_preferred_one_the_server_lists() -> None:
    assert choose_default(CURRENT_MODELS) == "kimi-k2.6" == DEFAULT_MODEL
    assert choose_default(LEGACY_MODELS) == "kimi-k2-turbo-preview"
    assert choose_default(["moonshot-v1-8k", "kimi-k2.5"]) == "kimi-k2.5"
    assert choose_default(["moonshot-v1-8k", "kimi-k4", "kimi-k4-mini"]) == "kimi-k4"
    assert choose_default(["qwen2.5-0.5b-instruct"]) == "qwen2.5-0.5b-instruct"  # another server's own model
    assert choose_default([]) == DEFAULT_MODEL


def test_the_closest_names_share_the_family_first() -> None:
    assert closest("kimi-k2-turbo-preview", CURRENT_MODELS)[:3] == ["kimi-k2.6", "kimi-k2.5", "kimi-k2.7-code"]
    assert closest("kimi-k2.6x", CURRENT_MODELS)[0] == "kimi-k2.6"
    assert closest("moonshot-v1-16k", CURRENT_MODELS)[0].startswith("moonshot-v1-")
    assert len(closest("x", CURRENT_MODELS, limit=3)) == 3


# -- the request builder ---------------------------------------------------------------------------


def test_k2_6_gets_the_thinking_switch_a_budget_and_no_temperature() -> None:
    request = build_request(HELLO, profile_for("kimi-k2.6"), temperature=0.3, thinking=False, budget=32_768)
    assert request.body() == {
        "model": "kimi-k2.6",
        "messages": HELLO,
        "stream": True,
        "max_completion_tokens": 32_768,
        "thinking": {"type": "disabled"},
    }
    assert request.body("max_tokens")["max_tokens"] == 32_768


def test_an_instruct_model_gets_the_chosen_or_recommended_temperature_and_no_thinking_field() -> None:
    chosen = build_request(HELLO, profile_for("moonshot-v1-8k"), temperature=0.1, thinking=True, budget=100)
    assert chosen.body()["temperature"] == 0.1 and "thinking" not in chosen.body()
    default = build_request(HELLO, profile_for("moonshot-v1-8k"), temperature=None, thinking=None, budget=100)
    assert default.body()["temperature"] == 0.3


def test_partial_mode_marks_the_last_assistant_message() -> None:
    messages = [*HELLO, {"role": "assistant", "content": "Once upon"}]
    request = build_request(messages, profile_for("kimi-k2.6"), temperature=None, thinking=None, budget=9, partial=True)
    assert request.body()["messages"][-1] == {"role": "assistant", "content": "Once upon", "partial": True}
    assert request.prefix == "Once upon"
    assert messages[-1] == {"role": "assistant", "content": "Once upon"}  # the conversation is not changed
    with pytest.raises(ValueError):
        build_request(HELLO, profile_for("kimi-k2.6"), temperature=None, thinking=None, budget=9, partial=True)


# -- the reply budget ------------------------------------------------------------------------------


def test_the_budget_is_the_cap_where_the_window_allows_and_shrinks_near_its_end() -> None:
    assert reply_budget(262_144, 1_000) == DEFAULT_REPLY_CAP
    assert reply_budget(262_144, 1_000, cap=500) == 500
    small = reply_budget(8_192, 100)
    assert 8_000 < small < 8_192 - 100
    assert reply_budget(8_192, 8_000) == REPLY_FLOOR  # too little room: the floor, and the server decides
    assert reply_budget(None, 10) == DEFAULT_REPLY_CAP


@given(window=st.integers(2_048, 2_000_000), tokens=st.integers(0, 2_000_000), cap=st.integers(1, 1_048_576))
def test_the_budget_never_passes_the_cap_and_fits_whenever_the_floor_does(window: int, tokens: int, cap: int) -> None:
    budget = reply_budget(window, tokens, cap)
    assert 1 <= budget <= cap
    if tokens * 1.06 + 16 + min(cap, REPLY_FLOOR) <= window:
        assert tokens + budget <= window


# -- values ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["0", "-5", "1.5", "nan", "inf", "1e309", "", "many", "2000000"])
def test_a_bad_reply_budget_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="whole number of tokens"):
        parse_reply_tokens(text)


def test_on_off_words() -> None:
    assert parse_on_off("ON", "x") is True and parse_on_off("disabled", "x") is False
    with pytest.raises(ValueError, match="x takes on or off"):
        parse_on_off("sometimes", "x")


@pytest.mark.parametrize("name", ["", "a b", "a\tb", "kimi\u200b", "kimi\u202e", "kimi\x1b[2J", "k" * 129, "a\ud800"])
def test_a_model_name_must_be_printable_without_spaces_or_invisible_characters(name: str) -> None:
    with pytest.raises(ValueError, match="model name"):
        check_model_name(name)


def test_ordinary_model_names_pass() -> None:
    for name in ("kimi-k2.6", "moonshot-v1-8k", "ggml-org/gemma-3-4b-it-GGUF:Q4_K_M", "模型-1"):
        assert check_model_name(name) == name
