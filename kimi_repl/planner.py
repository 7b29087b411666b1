"""The window planner: what one request to one model carries, and how big it is.

Decided afresh for every request, from the conversation and the profile of the model it goes to: the turns
that fit the model's window (the oldest exchanges are left out when they do not, never the system prompt,
the documents or the new message), each turn as that model can take it (a picture is sent as its name to a
model without image input), and their size; and, when the server still refuses the request as too long,
what to send instead. Nothing here changes the conversation: the caller applies a plan, and a request to a
small model leaves the next request to a large one free to send everything again. Only ``/compact`` moves the
conversation's own start (``Conversation.context_start``), and the user can take it back.

Sizes are estimated locally (cautiously), asked of the server when close to the limit, and judged from the last
reply's usage; the reply budget is what the window leaves.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from kimi_repl.conversation import Conversation, Document, Turn, Usage
from kimi_repl.profile import ModelProfile

REPLY_RESERVE_MAX = 8192
"""Tokens kept free for the reply, at most (a quarter of a small window)."""

DEFAULT_REPLY_CAP = 32_768
"""The largest reply budget sent unless the user sets another (Moonshot's own examples send 32k)."""

REPLY_FLOOR = 1024
"""The smallest reply budget sent: below this an answer hardly fits (it is Moonshot's own default)."""


def session_usage(turns: Iterable[Turn]) -> tuple[Usage, int]:
    """Totals over every reply that reported usage (every request of a continued one), and how many replies."""
    total, replies = Usage(), 0
    for turn in turns:
        usage = (turn.spent or turn.usage) if turn.role == "assistant" else None
        if usage is not None:
            total, replies = total + usage, replies + 1
    return total, replies


IMAGE_TOKENS = 1_600
"""A cautious count for one picture (models count pictures by their resolution: about a thousand tokens)."""


_NOT_WIDE = "[^\u2e80-\U0010ffff]+"
"""Runs of characters below the CJK ranges: what is left after removing them is counted at C speed (this runs
on every send). Compiled on first use, through ``re``'s cache, so that start-up does not wait for it."""


def local_estimate(messages: Iterable[Mapping[str, Any]]) -> int:
    """A cautious token count without the server: CJK characters one each, other text one per 3.5 characters,
    a picture :data:`IMAGE_TOKENS`."""
    total = 0
    for message in messages:
        content = message.get("content") or ""
        parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
        for part in parts:
            if isinstance(part, Mapping) and part.get("type") == "image_url":
                total += IMAGE_TOKENS
                continue
            text = str(part.get("text") or "") if isinstance(part, Mapping) else ""
            wide = 0 if text.isascii() else len(re.sub(_NOT_WIDE, "", text))
            total += wide + int((len(text) - wide) / 3.5 + 0.999)
        total += 4
    return total


def document_tokens(document: Document) -> int:
    """About how many tokens a document adds to every request."""
    return local_estimate([{"content": document.content}])


def reply_reserve(window: int) -> int:
    """Tokens the overflow guard keeps free for the reply."""
    return min(REPLY_RESERVE_MAX, window // 4)


SEARCH_RESERVE_MAX = 4096
"""Tokens kept free for web search results when the model may search (at most a quarter of the window): the
request after a search carries them, and must still leave room for the answer."""


def search_reserve(window: int) -> int:
    """Tokens the overflow guard keeps free for web search results."""
    return min(SEARCH_RESERVE_MAX, window // 4)


def reply_budget(window: int | None, input_tokens: int, cap: int = DEFAULT_REPLY_CAP) -> int:
    """The reply budget to send: what the window leaves after the input, at most ``cap``.

    The input is an estimate, so a margin is kept (Moonshot refuses a request whose input and budget
    together exceed the window). Never below :data:`REPLY_FLOOR` (or ``cap``, if the user asked for less):
    when even that does not fit, the overflow guard has trimmed what it can and the server will say so.
    """
    floor = min(cap, REPLY_FLOOR)
    if window is None:
        return cap
    room = window - input_tokens - (input_tokens // 20 + 16)
    return max(floor, min(cap, room))


def short_tokens(tokens: int) -> str:
    """A count of tokens, short: ``12345`` as ``12.3k``, ``262144`` as ``256k``, ``1048576`` as ``1M``
    (a window, in binary multiples)."""
    if tokens < 1000:
        return str(tokens)
    if tokens % 1_048_576 == 0:
        return f"{tokens // 1_048_576}M"
    if tokens % 1024 == 0 and tokens >= 8192:
        return f"{tokens // 1024}k"
    return f"{tokens / 1000:.1f}k"


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
    searching: bool = False,
) -> Plan:
    """The request for ``turns`` (the conversation's, or the part a retry answers again) to ``profile``'s model.

    Args:
        count: asks the server for the size, when the local estimate is close to the limit.
        hint: the size judged from the last reply's usage (0: unknown); the larger estimate wins.
        measured: the size the server gave for these turns already (after it refused them as too long).
        target: fit into this many tokens instead of the window less a reply's room (/compact).
        window: the window the server named when it refused (else the profile's).
        searching: the model may search the web: room is kept for the results (:func:`search_reserve`).
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
    limit = target if target is not None else window - reply_reserve(window) - (searching and search_reserve(window))
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
    first, scaled, local_left = start, tokens, local_total
    while tokens > limit and first + 2 <= len(turns) - keep:
        scaled -= int(scale * (sizes[first] + sizes[first + 1]))
        local_left -= sizes[first] + sizes[first + 1]
        first += 2
        # Scaling by the whole request misjudges a part (pictures and text count differently): never below
        # the cautious local count of what is left.
        tokens = max(scaled, local_left)
    if not images:
        named = sum(len(turn.images) for turn in turns[first:])
    return Plan(build(first), first, max(tokens, 0), window, tokens <= limit, named)


def _last_start(turns: Sequence[Turn]) -> int:
    """The latest even start that still sends the newest message (or exchange)."""
    keep = 1 if turns and turns[-1].role == "user" else 2
    return max(0, (len(turns) - keep) // 2 * 2)


def tokens_by_usage(conversation: Conversation, turns: Sequence[Turn]) -> int:
    """The request's size judged from the last reply's usage plus what was added after it (0 if unknown)."""
    turns = turns[conversation.context_start :]
    for index in range(len(turns) - 1, -1, -1):
        usage = turns[index].usage if turns[index].role == "assistant" else None
        if usage is not None:
            return usage.total + local_estimate(t.to_message() for t in turns[index + 1 :])
    return 0


def after_refusal(
    conversation: Conversation,
    turns: Sequence[Turn],
    profile: ModelProfile,
    planned: Plan,
    *,
    counted: int | None,
    window: int,
) -> Plan | None:
    """What to send after the server refused ``planned`` as too long for ``window``.

    The input may fit and only the budget not: then the same turns go again, sized from the server's count
    (``counted``) with headroom, so the budget shrinks. Otherwise more old turns are left out. None: nothing
    more can be left out (the caller says why).
    """
    roomier = max(counted or 0, planned.tokens) + window // 50
    if counted is not None and roomier + REPLY_FLOOR <= window:
        return planned._replace(tokens=roomier)
    measured = max(counted or planned.tokens, window + 1)
    searching = conversation.in_force.web
    tighter = plan(conversation, turns, profile, measured=measured, window=window, searching=searching)
    return None if tighter.start == planned.start else tighter


class Oversize(NamedTuple):
    """What does not fit a window even alone: ``what`` is ``documents``, ``system``, ``message`` or ``reply``.

    Attributes:
        tokens: its size (None: a message whose size is not known, only that it is too long).
        documents: how many documents.
    """

    what: str
    tokens: int | None
    documents: int = 0


def oversize(conversation: Conversation, window: int, *, message: int | None = None, reply: bool = False) -> Oversize:
    """What keeps a request from fitting ``window`` alone: the documents (more than half of it), the system
    prompt (the same), or else the message (``message``: its size, when known), or with ``reply`` the reply
    being continued."""
    documents = sum(document_tokens(d) for d in conversation.documents)
    system = local_estimate(conversation.preamble()[:1]) if conversation.system else 0
    if documents > window // 2:
        return Oversize("documents", documents, len(conversation.documents))
    if system > window // 2:
        return Oversize("system", system)
    return Oversize("reply" if reply else "message", message)
