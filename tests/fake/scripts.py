"""What a chat request gets instead of the echo: :class:`Script`, the typed ``%directives`` and the raw hostile
streams.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tests.fake.samples import (
    ATTACKS_TEXT,
    DRIP_CHUNKS_PER_SECOND,
    HOSTILE_REPLY,
    PACE_CHUNKS_PER_SECOND,
    PAGE_ATTACKS,
    PAGE_HOSTILE_REPLY,
    _ended,
    bench_reply,
    code_sample,
    drip_reply,
    markdown_sample,
)


@dataclass
class Script:
    """What the next chat request gets instead of the default echo reply.

    Attributes:
        status: answer with this HTTP error instead (``error_type`` / ``message`` override the body).
        times: how many consecutive requests this script answers (for retries).
        text: the reply; ``reasoning``: streamed as ``reasoning_content`` first.
        chunk_chars: characters per streamed chunk; ``delay``: seconds between chunks;
            ``first_byte_delay``: seconds before the response starts.
        cut_after: stop after this many content chunks without a finish_reason; ``abrupt`` closes the
            connection mid-body instead of ending the chunked body cleanly.
        error_after: after this many content chunks, send an error object in the stream and end it.
        finish_reason: the last chunk's reason; ``usage_style``: "choice", "top" or "both".
        cached_tokens: reported as cached, at the top level or (``cached_style="details"``) in
            ``prompt_tokens_details``.
        budget_applies: False lets the reply run past its budget (the benchmark's replies).
        body: send these bytes as the whole response body instead (a hostile or broken server), in pieces of
            ``piece_bytes`` (all at once when 0), under ``content_type``; ``headers`` are added to any answer.
        pings: after the body (or instead of a reply), send an SSE comment every ``pings`` seconds, forever.
    """

    status: int | None = None
    error_type: str | None = None
    message: str | None = None
    times: int = 1
    text: str | None = None
    reasoning: str = ""
    chunk_chars: int = 6
    delay: float = 0.0
    first_byte_delay: float = 0.0
    cut_after: int | None = None
    abrupt: bool = False
    error_after: int | None = None
    finish_reason: str = "stop"
    usage_style: str = "choice"
    cached_tokens: int = 0
    cached_style: str = "top"
    budget_applies: bool = True
    body: bytes | None = None
    piece_bytes: int = 0
    content_type: str = "text/event-stream"
    headers: dict[str, str] | None = None
    pings: float = 0.0


def _event_line(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


def _content_event(text: str, finish: str | None = None) -> bytes:
    return _event_line({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]})


DONE_EVENTS = _content_event("", "stop") + b"data: [DONE]\n\n"


SSE_LINE_FIRST = "One long event follows.\n\n"


def sse_line_text(n: int) -> str:
    """The markdown that :func:`attack_sse_line` sends in its one long event: the event is about 1.5 MB × ``n``."""
    unit = len(_content_event(markdown_sample(64)))  # the bytes of an event holding 64 KB of markdown
    return _ended(markdown_sample(1536 * n * 64 * 1024 // unit))


def attack_sse_line(n: int) -> bytes:
    """A raw stream whose second event is one line of about 1.5 MB × ``n`` (markdown, then the benchmark's line),
    sent in small pieces with no newline until its end."""
    return _content_event(SSE_LINE_FIRST) + _content_event(sse_line_text(n)) + DONE_EVENTS


def attack_deep(n: int) -> bytes:
    """A raw stream: some text, then a chunk (valid JSON) nested 100,000 × ``n`` deep, then more text."""
    deep = b'data: {"choices": [], "x": ' + b"[" * (100_000 * n) + b"]" * (100_000 * n) + b"}\n\n"
    return _content_event("The part before the deep chunk. ") + deep + _content_event("Never shown.") + DONE_EVENTS


def attack_surrogate(n: int) -> bytes:
    """A raw stream with a lone surrogate (``\\ud800``) escaped in a chunk's JSON, ``n`` times."""
    lone = b'data: {"choices": [{"index": 0, "delta": {"content": "a lone \\ud800 surrogate. "}}]}\n\n'
    return _content_event("Before it: ") + lone * n + _content_event(_ended(" After it.")) + DONE_EVENTS


def attack_null_choice(n: int) -> bytes:
    """A raw stream: ``n`` chunks of text, then a chunk whose ``choices`` is ``[null]``, then more text."""
    before = _content_event("The part before the null choice. ") * n
    return before + b'data: {"choices": [null]}\n\n' + _content_event("Never shown.") + DONE_EVENTS


ATTACKS_RAW = {
    "sseline": attack_sse_line,
    "deep": attack_deep,
    "surrogate": attack_surrogate,
    "null": attack_null_choice,
}
"""Hostile streams sent as raw bytes, in small pieces: ``%attack NAME N``."""


ATTACK_PIECE_BYTES = 1024
"""The pieces a raw attack is sent in."""


ATTACK_CHUNK_CHARS = {"line": 6, "brackets": 6}
"""Characters per streamed chunk of a text attack: as small as a model's for the long line and the brackets,
64 for the bulky ones (their point is their shape, not the count of events)."""


PING_SECONDS = 0.5


def attack_script(name: str, n: int) -> Script | None:
    """The script of ``%attack NAME N`` (None for an unknown NAME); ``pings`` ignores N: it sends only keep-alive
    comments, forever."""
    if name in ATTACKS_TEXT:
        chunk = ATTACK_CHUNK_CHARS.get(name, 64)
        return Script(text=ATTACKS_TEXT[name](n), chunk_chars=chunk, budget_applies=False)
    if name in ATTACKS_RAW:
        return Script(body=ATTACKS_RAW[name](n), piece_bytes=ATTACK_PIECE_BYTES)
    if name == "pings":
        return Script(body=b"", pings=PING_SECONDS)
    return None


MODELS_BODIES = ("long-id", "many")


def hostile_models_body(kind: str, n: int = 1) -> bytes:
    """A hostile answer to ``GET /models``: ``long-id``, one model whose id is 5 MB × ``n``; ``many``,
    200,000 × ``n`` models (short ids, so that 200,000 fit under the client's 4 MB cap)."""
    if kind == "long-id":
        return b'{"object": "list", "data": [{"id": "' + b"x" * (5 * 1024 * 1024 * n) + b'"}]}'
    if kind == "many":
        entries = ",".join(f'{{"id":"m{i}"}}' for i in range(200_000 * n))
        return f'{{"object":"list","data":[{entries}]}}'.encode()
    raise ValueError(f"unknown models body {kind!r}: one of {', '.join(MODELS_BODIES)}")


def rate_limited(seconds: int, times: int = 1) -> Script:
    """A 429 as Moonshot sends it for a used-up request rate: wait ``seconds`` (``Retry-After`` and the
    ``X-RateLimit-*`` headers of tier 0: 3 requests a minute), ``times`` in a row."""
    headers = {
        "Retry-After": str(seconds),
        "X-RateLimit-Limit": "3",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(seconds),
    }
    message = f"Your account reached max request: 3, please try again after {seconds} seconds"
    return Script(status=429, error_type="rate_limit_reached_error", message=message, headers=headers, times=times)


def directive_script(message: str) -> Script | None:
    """The script a hand-typed ``%directive`` asks for, if any."""
    words = message.strip().split()
    if not words or not words[0].startswith("%"):
        return None
    word, args = words[0][1:], words[1:]
    number = int(args[0]) if args and args[0].isdigit() else None
    if word == "error":
        return Script(status=number or 500, times=10)
    if word == "limit":  # a new account's rate limit: 429 asking to wait N seconds (Retry-After), then the answer
        return rate_limited(number or 5)
    if word == "cut":
        return Script(text="This reply will be cut off in the middle of a sentence because", cut_after=4)
    if word == "drop":
        return Script(text="This connection drops abruptly in the middle of", cut_after=4, abrupt=True)
    if word == "slow":
        return Script(text=markdown_sample(2), delay=0.05)
    if word == "markdown":
        return Script(text=markdown_sample(4), delay=0.005)
    if word == "code":  # one long code block, at a pace to watch it scroll into view
        return Script(text=code_sample(number or 6) + "That was the code.\n", delay=0.004)
    if word == "long":
        return Script(text=markdown_sample(number or 50))
    if word == "bench":  # the benchmark's reply: N KB of markdown, then a line it waits for
        return Script(text=bench_reply(number or 20), budget_applies=False)
    if word == "benchcode":  # the same, but one long fenced block of Python
        return Script(text=bench_reply(number or 50, code=True), budget_applies=False)
    if word == "pace":  # the same, at 200 chunks a second (a fast model), 6 characters each
        return Script(
            text=bench_reply(number or 8), chunk_chars=6, delay=1 / PACE_CHUNKS_PER_SECOND, budget_applies=False
        )
    if word == "drip":  # a short reply at 20 chunks a second (a slow model), for the first words' delay
        return Script(text=drip_reply(), chunk_chars=6, delay=1 / DRIP_CHUNKS_PER_SECOND, budget_applies=False)
    if word == "think":
        return Script(reasoning="Let me think about this step by step. " * 12, text="**Answer:** 42.", delay=0.03)
    if word == "hostile":
        return Script(text=HOSTILE_REPLY)
    if word == "page":  # a reply (and reasoning) hostile to a page saved with /save NAME.html
        return Script(
            reasoning="Thinking </details><script>alert(4)</script> " + " ".join(PAGE_ATTACKS), text=PAGE_HOSTILE_REPLY
        )
    if word == "attack" and args:  # a hostile reply or stream: %attack NAME N
        scale = int(args[1]) if len(args) > 1 and args[1].isdigit() else 1
        return attack_script(args[0], max(1, scale))
    if word == "chinese":
        return Script(text="# 你好\n\n这是一个**中文**回答。\n\n- 第一点\n- 第二点\n\n```python\nprint('你好')\n```\n")
    return None
