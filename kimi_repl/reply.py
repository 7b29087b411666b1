"""The mechanics of one reply: streaming a round into the display, and what a round brought.

A reply is usually one round: a request and its stream. With Moonshot's ``$web_search`` the model may stop
with ``finish_reason: "tool_calls"`` instead of answering: that round's call (streamed in pieces, joined by
``index``) is answered with a ``tool`` message carrying its arguments unchanged, and the request is sent again,
until a round answers. What to do with the rounds (retry, give up, record) is the session's business.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kimi_repl.client import ChatError, ContentDelta, Finished, ReasoningDelta, StreamEvent, ToolCallDelta
from kimi_repl.interrupts import allowed
from kimi_repl.planner import REPLY_FLOOR, local_estimate
from kimi_repl.render import FRAMES_PER_SECOND, ReplyView
from kimi_repl.request import ChatRequest

MAX_SEARCH_ROUNDS = 5
"""Searches one reply may run before kimi-repl stops asking (each is billed)."""

MAX_ARGUMENTS = 1024 * 1024
MAX_ID = 256
MAX_TOOL_CALLS = 16
"""Tool calls one round may ask for: each is answered in the next request, so more is a broken server."""

CAUGHT_UP_SECONDS = 0.001
"""A read that waited longer than this found nothing buffered: the reader had caught up with the stream."""

GATHER_SECONDS = 1 / FRAMES_PER_SECOND
"""The longest the reader lets the stream gather (a frame at the fastest rate, even when frames come less often):
the end of a reply is never held back by more than this."""

GATHER_BELOW_EVENTS_PER_SECOND = 1000
"""Gathering pays while the stream is slow, when a wake-up costs about as much as the few events it brings (a
model writing 50 to 200 tokens a second); a faster stream is read as it comes, so that its end shows at once."""


class Text:
    """Text that grows a few characters at a time, kept joined in pieces of about a thousand characters (a list
    of every streamed piece would cost a Python object each: ten times the text)."""

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
    _arguments: Text = field(default_factory=lambda: Text())

    def add(self, piece: ToolCallDelta) -> None:
        """Take a streamed piece (its arguments are joined once, when read: linear however many pieces).

        Raises:
            ChatError: the arguments grew past :data:`MAX_ARGUMENTS` (no search needs that much).
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

    def _argument_data(self) -> dict[str, Any]:
        try:
            data = json.loads(self.arguments)
        except (ValueError, RecursionError):
            return {}
        return data if isinstance(data, dict) else {}

    @property
    def query(self) -> str:
        """The search query, when the arguments carry one ("" otherwise)."""
        query = self._argument_data().get("query")
        return query if isinstance(query, str) else ""

    @property
    def result_tokens(self) -> int:
        """Tokens the search results will add to the next request, when the arguments say (0 otherwise)."""
        usage = self._argument_data().get("usage")
        tokens = usage.get("total_tokens") if isinstance(usage, dict) else None
        return tokens if isinstance(tokens, int) and not isinstance(tokens, bool) and 0 < tokens < 10**9 else 0

    def request_part(self) -> dict[str, Any]:
        """The call as the assistant message that made it carries it."""
        return {"id": self.id, "type": self.type, "function": {"name": self.name, "arguments": self.arguments}}

    def answer(self) -> dict[str, Any]:
        """The ``tool`` message that answers it: for a builtin function, its arguments unchanged."""
        return {"role": "tool", "tool_call_id": self.id, "name": self.name, "content": self.arguments}

    def record(self) -> dict[str, str]:
        """What a turn keeps of it."""
        return {"id": self.id, "name": self.name, "query": self.query, "arguments": self.arguments}


@dataclass
class Round:
    """What one request's stream brought."""

    content: str = ""
    reasoning: str = ""
    calls: list[ToolCall] = field(default_factory=list)
    finished: Finished | None = None
    failure: ChatError | None = None
    interrupted: bool = False
    drawing_cut: bool = False
    """Ctrl-C stopped the drawing of what had arrived (what arrived is kept all the same)."""

    @property
    def reason(self) -> str | None:
        return self.finished.reason if self.finished else None

    @property
    def searching(self) -> bool:
        """The model asked for tool calls instead of answering (and nothing went wrong)."""
        return self.reason == "tool_calls" and bool(self.calls) and self.failure is None and not self.interrupted


def stream_round(events: Callable[[], Any], view: ReplyView, *, gone: Callable[[], bool]) -> Round:
    """Stream one request into ``view``.

    Args:
        events: starts the request and gives its stream of :data:`StreamEvent`.
        gone: whether nobody reads the output any more (a hang-up, a closed pipe): the round stops.
    """
    result = Round()
    content, reasoning = Text(), Text()
    calls: dict[int, ToolCall] = {}
    stream = events()
    caught_up_at: float | None = None  # when the reader last caught up with the stream (after the first words)
    events_since = 0
    try:
        with allowed():
            while True:
                asked = time.monotonic()
                event = next(stream, None)
                if event is None:
                    break
                arrived = time.monotonic()
                events_since += 1
                _take(event, view, content, reasoning, calls, result)
                if gone():
                    result.interrupted = True
                    break
                if arrived - asked > CAUGHT_UP_SECONDS:
                    # The reader caught up with the stream. If the stream is slow, let what comes gather until
                    # the next frame (or for GATHER_SECONDS), and read it in one go then: nothing is shown later
                    # than it would be, and a model costs a wake-up or two a frame instead of one a token.
                    slow = caught_up_at is not None and events_since < GATHER_BELOW_EVENTS_PER_SECOND * (
                        arrived - caught_up_at
                    )
                    caught_up_at, events_since = arrived, 0
                    pause = min(view.until_next_frame(), GATHER_SECONDS) if slow else 0.0
                    if pause > 0:
                        time.sleep(pause)
    except KeyboardInterrupt:
        result.interrupted = True
    except ChatError as error:
        result.failure = error
    finally:
        stream.close()
        try:
            with allowed():  # Ctrl-C may cut the drawing of a long reply short; the reply is kept whole
                view.close()  # never raises otherwise: a terminal that went away only sets display.gone
        except KeyboardInterrupt:
            view.abandon()
            result.drawing_cut = True
    result.content, result.reasoning = content.value(), reasoning.value()
    result.calls = [calls[index] for index in sorted(calls)]
    return result


def _take(
    event: StreamEvent,
    view: ReplyView,
    content: Text,
    reasoning: Text,
    calls: dict[int, ToolCall],
    result: Round,
) -> None:
    if isinstance(event, ContentDelta):
        content.add(event.text)
        view.content(event.text)
    elif isinstance(event, ReasoningDelta):
        reasoning.add(event.text)
        view.reasoning(event.text)
    elif isinstance(event, ToolCallDelta):
        if event.position not in calls and len(calls) >= MAX_TOOL_CALLS:
            raise ChatError(f"The server asked for more than {MAX_TOOL_CALLS} tool calls in one reply.")
        calls.setdefault(event.position, ToolCall()).add(event)
    else:
        result.finished = event


def after_search(request: ChatRequest, searched: Round) -> ChatRequest:
    """The request that goes on after a round that asked for searches.

    The assistant message that asked (with its reasoning, which thinking models require next to tool calls)
    and a tool message per call are added; the budget shrinks by what the results will take.
    """
    asked: dict[str, Any] = {
        "role": "assistant",
        "content": searched.content,
        "tool_calls": [call.request_part() for call in searched.calls],
    }
    if searched.reasoning:
        asked["reasoning_content"] = searched.reasoning
    answers = [call.answer() for call in searched.calls]
    messages = [*request.messages, asked, *answers]
    # What the next request adds: the results, and the call and its answer (the arguments twice), counted as text.
    written = searched.content + searched.reasoning + "".join(call.arguments * 2 + call.id for call in searched.calls)
    added = sum(call.result_tokens for call in searched.calls) + local_estimate([{"content": written}, *answers])
    budget = max(min(REPLY_FLOOR, request.budget), request.budget - added)
    return request._replace(messages=messages, budget=budget)
