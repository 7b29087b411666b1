"""The one place a chat request is decided: the conversation + the model's profile + the session's choices.

What goes out follows the profile: no sampling parameter a model fixes, a ``thinking`` switch only for models
that have one, and always a reply budget (Moonshot's default of about 1,024 tokens would cut long answers,
and a thinking model's reasoning spends the same budget).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from kimi_repl.profile import ModelProfile

WEB_SEARCH = "$web_search"
WEB_SEARCH_TOOL = {"type": "builtin_function", "function": {"name": WEB_SEARCH}}
"""Moonshot's builtin web search: the model asks for it, Moonshot runs it and reads the results itself."""

CACHE_KEY_FIELD = "prompt_cache_key"
BUDGET_FIELD = "max_completion_tokens"
LEGACY_BUDGET_FIELD = "max_tokens"
"""What older OpenAI-compatible servers take instead (``max_tokens`` is deprecated on Moonshot)."""


class ChatRequest(NamedTuple):
    """A streamed chat completion, ready to send.

    Attributes:
        budget: the reply budget in tokens (sent as ``max_completion_tokens`` or, to older servers,
            ``max_tokens``).
        thinking: Moonshot's ``thinking`` object, or None to send none.
        tools: the tools offered (Moonshot's ``$web_search``), or none.
        cache_key: ``prompt_cache_key``: the session's id, so that the requests of one conversation share
            Moonshot's prompt cache (as Moonshot's own client sends it).
    """

    model: str
    messages: Sequence[Mapping[str, Any]]
    budget: int
    temperature: float | None = None
    thinking: Mapping[str, str] | None = None
    tools: Sequence[Mapping[str, Any]] = ()
    cache_key: str | None = None

    @property
    def thinks(self) -> bool:
        """Whether this request switches thinking on."""
        return self.thinking is not None and self.thinking.get("type") == "enabled"

    @property
    def prefix(self) -> str:
        """The reply this request continues (partial mode), or ""."""
        last = self.messages[-1] if self.messages else {}
        return str(last.get("content") or "") if last.get("partial") else ""

    def body(self, budget_field: str = BUDGET_FIELD) -> dict[str, Any]:
        """The JSON body the server receives (the reply budget under ``budget_field``)."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": list(self.messages),
            "stream": True,
            budget_field: self.budget,
        }
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.thinking is not None:
            body["thinking"] = dict(self.thinking)
        if self.tools:
            body["tools"] = [dict(tool) for tool in self.tools]
        if self.cache_key:
            body[CACHE_KEY_FIELD] = self.cache_key
        return body


def build_request(
    messages: Sequence[Mapping[str, Any]],
    profile: ModelProfile,
    *,
    temperature: float | None,
    thinking: bool | None,
    budget: int,
    tools: Sequence[Mapping[str, Any]] = (),
    partial: bool = False,
    cache_key: str | None = None,
) -> ChatRequest:
    """The request for ``messages`` to the model ``profile`` describes.

    Args:
        temperature: the user's choice (None: the model's recommendation, where it takes one).
        thinking: the user's thinking choice (None: the model's default).
        tools: the tools to offer, as declared (Moonshot's ``$web_search``); none when continuing a reply, which
            only goes on writing.
        partial: the last message is the assistant's unfinished reply, to be continued (Moonshot's partial
            mode): it is marked ``"partial": true``.
    """
    sent = list(messages)
    if partial:
        if not sent or sent[-1].get("role") != "assistant":
            raise ValueError("partial mode needs the assistant's reply as the last message")
        sent[-1] = {**sent[-1], "partial": True}
    return ChatRequest(
        model=profile.id,
        messages=sent,
        budget=budget,
        temperature=profile.temperature_to_send(temperature),
        thinking=profile.thinking_field(thinking),
        tools=tuple(tools) if not partial else (),
        cache_key=cache_key,
    )
