"""Token accounting: what a reply used, how full the model's window is, the reply budget (what a request carries
is planned in :mod:`kimi_repl.window`).

Moonshot reports usage in ``choices[0].usage`` of the last chunk (or a top-level ``usage``); cached
tokens come as ``cached_tokens`` or ``prompt_tokens_details.cached_tokens``, reasoning tokens as
``completion_tokens_details.reasoning_tokens``. Windows come from the model profile.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from kimi_repl.conversation import Document, Turn, Usage

REPLY_RESERVE_MAX = 8192
"""Tokens kept free for the reply, at most (a quarter of a small window)."""

DEFAULT_REPLY_CAP = 32_768
"""The largest reply budget sent unless the user sets another (Moonshot's own examples send 32k)."""

REPLY_FLOOR = 1024
"""The smallest reply budget sent: below this an answer hardly fits (it is Moonshot's own default)."""


def human(tokens: int) -> str:
    """``12345`` as ``12.3k``, ``262144`` as ``256k``, ``1048576`` as ``1M``."""
    if tokens < 1000:
        return str(tokens)
    if tokens % 1_048_576 == 0:
        return f"{tokens // 1_048_576}M"
    if tokens % 1024 == 0 and tokens >= 8192:
        return f"{tokens // 1024}k"
    return f"{tokens / 1000:.1f}k"


def usage_line(usage: Usage, window: int | None, *, thinking: str = "", searches: int = 0) -> str:
    """The dim line after a reply: ``↑ 1.2k prompt · ↓ 80 completion (40 reasoning) · 512 cached · thinking on
    · 1.3k / 256k context (1%)``.

    Args:
        thinking: the model's thinking label (``thinking on``), for models that think.
        searches: web searches the reply ran.
    """
    completion = f"↓ {human(usage.completion)} completion"
    if usage.reasoning:
        completion += f" ({human(usage.reasoning)} reasoning)"
    parts = [f"↑ {human(usage.prompt)} prompt", completion]
    if usage.cached:
        parts.append(f"{human(usage.cached)} cached")
    if thinking:
        parts.append(thinking)
    if searches:
        parts.append(f"{searches} web search{'es' if searches != 1 else ''}")
    if window:
        parts.append(f"{human(usage.total)} / {human(window)} context ({100 * usage.total / window:.0f}%)")
    return " · ".join(parts)


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
on every send). Compiled on first use, through ``re``'s cache: compiling it takes 2 ms of start-up."""


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
