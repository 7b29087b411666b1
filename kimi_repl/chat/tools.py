"""Tools a model may call, and the calls themselves as they stream in.

A model that wants a tool stops with ``finish_reason: "tool_calls"``; each call (streamed in pieces, joined by
``index``) is answered with a ``tool`` message and the request is sent again. A :class:`Tool` says how it is
offered, how a call is answered, what is reported while it runs and what a reply keeps of it: a new tool plugs
in by being passed to the replier, nothing else changes. Moonshot's ``$web_search`` is the first: Moonshot runs
the search itself, and the answer is the call's arguments unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from kimi_repl.chat.outcomes import Calling
from kimi_repl.client import ChatError, ToolCallDelta
from kimi_repl.request import WEB_SEARCH, WEB_SEARCH_TOOL

MAX_ARGUMENTS = 1024 * 1024
MAX_ID = 256


class Pieces:
    """Text that grows a few characters at a time, kept joined in pieces of about a thousand characters (a list
    of every streamed piece would cost a Python object each, many times the text)."""

    __slots__ = ("_joined", "_pieces")

    def __init__(self) -> None:
        self._joined: list[str] = []
        self._pieces: list[str] = []

    def add(self, piece: str) -> None:
        self._pieces.append(piece)
        if len(self._pieces) >= 256:
            self._joined.append("".join(self._pieces))
            self._pieces.clear()

    def value(self) -> str:
        """The whole text (joined once: a long reply is not copied twice)."""
        self._joined.append("".join(self._pieces))
        self._pieces.clear()
        if len(self._joined) > 1:
            self._joined[:] = ["".join(self._joined)]
        return self._joined[0]


@dataclass
class ToolCall:
    """One tool call, assembled from its streamed pieces."""

    id: str = ""
    type: str = "builtin_function"
    name: str = ""
    size: int = 0
    """Characters of arguments so far."""
    _arguments: Pieces = field(default_factory=lambda: Pieces())

    def add(self, piece: ToolCallDelta) -> None:
        """Take a streamed piece (its arguments are joined once, when read: linear however many pieces).

        Raises:
            ChatError: the arguments grew past :data:`MAX_ARGUMENTS` (no tool needs that much).
        """
        self.id = self.id or piece.id[:MAX_ID]
        self.type = piece.type[:MAX_ID] or self.type
        self.name = self.name or piece.name[:MAX_ID]
        self.size += len(piece.arguments)
        if self.size > MAX_ARGUMENTS:
            raise ChatError(f"The server sent a tool call of more than {MAX_ARGUMENTS // 1024} KB of arguments.")
        self._arguments.add(piece.arguments)

    @property
    def arguments(self) -> str:
        return self._arguments.value()

    def argument_data(self) -> dict[str, Any]:
        """The arguments as a JSON object ({} when they are not one)."""
        try:
            data = json.loads(self.arguments)
        except (ValueError, RecursionError):
            return {}
        return data if isinstance(data, dict) else {}

    @property
    def query(self) -> str:
        """The search query, when the arguments carry one ("" otherwise)."""
        query = self.argument_data().get("query")
        return query if isinstance(query, str) else ""

    @property
    def result_tokens(self) -> int:
        """Tokens the results will add to the next request, when the arguments say (0 otherwise)."""
        usage = self.argument_data().get("usage")
        tokens = usage.get("total_tokens") if isinstance(usage, dict) else None
        return tokens if isinstance(tokens, int) and not isinstance(tokens, bool) and 0 < tokens < 10**9 else 0

    def request_part(self) -> dict[str, Any]:
        """The call as the assistant message that made it carries it."""
        return {"id": self.id, "type": self.type, "function": {"name": self.name, "arguments": self.arguments}}


class Tool(Protocol):
    """A tool offered to the model."""

    @property
    def name(self) -> str:
        """The function name the model calls."""

    def declaration(self) -> Mapping[str, Any]:
        """The entry of the request's ``tools``."""

    def answer(self, call: ToolCall) -> dict[str, Any]:
        """The ``tool`` message that answers ``call``."""

    def running(self, call: ToolCall) -> Calling:
        """What to report while ``call`` runs."""

    def record(self, call: ToolCall) -> dict[str, str] | None:
        """What a reply keeps of ``call`` (its ``searches``), or None."""


class WebSearch:
    """Moonshot's builtin ``$web_search``: Moonshot runs it and reads the results itself; the call is answered
    with its own arguments."""

    name = WEB_SEARCH

    def declaration(self) -> Mapping[str, Any]:
        return WEB_SEARCH_TOOL

    def answer(self, call: ToolCall) -> dict[str, Any]:
        return {"role": "tool", "tool_call_id": call.id, "name": call.name, "content": call.arguments}

    def running(self, call: ToolCall) -> Calling:
        return Calling(self.name, call.query, call.result_tokens)

    def record(self, call: ToolCall) -> dict[str, str] | None:
        return {"id": call.id, "name": call.name, "query": call.query, "arguments": call.arguments}
