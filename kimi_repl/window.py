"""The window planner: what one request to one model carries.

Decided afresh for every request, from the conversation and the profile of the model it goes to: the turns
that fit the model's window (the oldest exchanges are left out when they do not, never the system prompt,
the documents or the new message), each turn as that model can take it (a picture is sent as its name to a
model without image input), and their size. Nothing here changes the conversation: a request to a small
model leaves the next request to a large one free to send everything again. Only ``/compact`` moves the
conversation's own start (``Conversation.context_start``), and the user can take it back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from kimi_repl.context import local_estimate, reply_reserve
from kimi_repl.conversation import Conversation, Turn
from kimi_repl.profile import ModelProfile

Counter = Callable[[list[dict[str, Any]]], "int | None"]
"""The server's count of a request's tokens (None when it cannot say)."""


class Plan(NamedTuple):
    """One request's messages and what was left out of them.

    Attributes:
        start: the first of the planned turns that is sent (turns before it are left out).
        tokens: the input's size: the server's count when it was asked, a cautious local estimate otherwise.
        fits: the input leaves room for a reply (False: even the newest turns alone are too many).
        named_pictures: pictures sent as their names, because the model takes none.
    """

    messages: list[dict[str, Any]]
    start: int
    tokens: int
    window: int | None
    fits: bool = True
    named_pictures: int = 0


def plan(
    conversation: Conversation,
    turns: Sequence[Turn],
    profile: ModelProfile,
    *,
    count: Counter | None = None,
    hint: int = 0,
    measured: int | None = None,
    target: int | None = None,
    window: int | None = None,
) -> Plan:
    """The request for ``turns`` (the conversation's, or the part a retry answers again) to ``profile``'s model.

    Args:
        count: asks the server for the size, when the local estimate is close to the limit.
        hint: the size judged from the last reply's usage (0: unknown); the larger estimate wins.
        measured: the size the server gave for these turns already (after it refused them as too long).
        target: fit into this many tokens instead of the window less a reply's room (/compact).
        window: the window the server named when it refused (else the profile's).
    """
    window = window or profile.window
    images = profile.images
    preamble = conversation.preamble()
    start = min(conversation.context_start, _last_start(turns))
    messages = [turn.to_message(images=images) for turn in turns]
    named = 0 if images else sum(len(turn.images) for turn in turns[start:])

    def build(first: int) -> list[dict[str, Any]]:
        return preamble + messages[first:]

    if window is None:
        return Plan(build(start), start, local_estimate(build(start)), None, True, named)
    limit = target if target is not None else window - reply_reserve(window)
    sizes = [local_estimate([message]) for message in messages]
    local_total = local_estimate(preamble) + sum(sizes[start:])
    tokens = max(local_total, hint)
    if measured is None and tokens > limit * 0.8 and count is not None:  # close: ask the server
        measured = count(build(start))
    if measured is not None:
        tokens = measured
    if tokens <= limit:
        return Plan(build(start), start, tokens, window, True, named)
    # Leave out whole exchanges (user + reply) from the front; keep the new message, or the last exchange.
    scale = tokens / local_total if local_total else 1.0
    keep = 1 if turns and turns[-1].role == "user" else 2
    first = start
    while tokens > limit and first + 2 <= len(turns) - keep:
        tokens -= int(scale * (sizes[first] + sizes[first + 1]))
        first += 2
    if not images:
        named = sum(len(turn.images) for turn in turns[first:])
    return Plan(build(first), first, max(tokens, 0), window, tokens <= limit, named)


def _last_start(turns: Sequence[Turn]) -> int:
    """The latest even start that still sends the newest message (or exchange)."""
    keep = 1 if turns and turns[-1].role == "user" else 2
    return max(0, (len(turns) - keep) // 2 * 2)
