"""A Moonshot-compatible server on 127.0.0.1 for tests, the benchmark and trying kimi-repl by hand.

It follows ``shared/moonshot-api.md``: OpenAI-shaped chat completions streamed as SSE over chunked HTTP/1.1,
usage inside ``choices[0]`` of the last chunk (optionally also a top-level ``usage`` chunk),
``reasoning_content`` for thinking models, Moonshot's error bodies and status codes, ``x-trace-id``.

Two lineups: ``current`` is Moonshot in late 2026 (``GET /models`` with capabilities; the discontinued ids
answer 404; a request without a budget gets 1,024 tokens, reasoning included; input + budget must fit the
window; fixed sampling and the thinking switch refused as Moonshot refuses them; partial mode); ``legacy`` is
the older lineup served the older way (ids only, no default budget, ``max_completion_tokens`` refused as an
older OpenAI-compatible server refuses it).

Faults are injected two ways:
- tests queue :class:`Script` objects (``server.script(...)``), each consumed by one chat request;
- a person types a directive as the message: ``!error 500``, ``!error 429``, ``!cut``, ``!drop``,
  ``!slow``, ``!markdown``, ``!long N`` (N KB of markdown), ``!code N`` (one N KB code block, at a pace),
  ``!think``, ``!chinese``, ``!hostile`` (escape sequences, bidi and invisible characters, a spoofed
  link); and for the benchmark ``!bench N`` (N KB of markdown, as fast as it can), ``!benchcode N`` (one
  N KB code block) and ``!pace N`` (200 chunks/s);
- hostile replies and streams, ``!attack NAME N`` (N times the size; each reply ends with a blank line and
  the benchmark's end line; ``bench/hostile.py`` measures them): ``brackets`` (100 KB × N of ``<`` in a
  paragraph), ``line`` (one 1 MB × N line of prose, 6 characters a chunk), ``table`` (25,000 × N rows),
  ``lines`` (a paragraph of 125,000 × N lines), ``links`` (25,000 × N links in one paragraph), ``nesting``
  (block quotes and lists 10,000 × N deep), ``code`` (one 2.5 MB × N fenced block); and as raw bytes in 1 KB
  pieces: ``sseline`` (one SSE line of 1.5 MB × N, no newline until its end: over the client's 8 MB cap
  from N = 6), ``deep`` (a chunk nested 100,000 × N deep, after some text), ``surrogate`` (a lone
  ``\\ud800``), ``null`` (``choices: [null]`` after some text), ``pings`` (only ``: ping`` keep-alive
  comments, forever);
- a hostile ``GET /models``: ``--models-body long-id`` (one model whose id is 5 MB) or ``--models-body
  many`` (200,000 models), ``--models-scale N`` times that.

Run it by hand: ``python -m tests.fake_server --port 8765`` then
``MOONSHOT_BASE_URL=http://127.0.0.1:8765/v1 MOONSHOT_API_KEY=sk-test kimi-repl``.
"""

from __future__ import annotations

import argparse
import contextlib
import email.policy
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TEST_KEY = "sk-fake-test-key"
BENCH_END = "Bench reply complete."


@dataclass(frozen=True)
class FakeModel:
    """How the fake serves one model.

    Attributes:
        thinking: "never", "switchable" (on unless ``thinking: {"type": "disabled"}``) or "always".
        fixed: the temperatures the model insists on, (thinking off, thinking on); None if it takes any.
    """

    window: int
    thinking: str = "never"
    images: bool = False
    video: bool = False
    fixed: tuple[float, float] | None = None


CURRENT_MODELS = {
    "kimi-k2.6": FakeModel(262_144, "switchable", images=True, video=True, fixed=(0.6, 1.0)),
    "kimi-k2.5": FakeModel(262_144, "switchable", images=True, fixed=(0.6, 1.0)),
    "kimi-k2.7-code": FakeModel(262_144, "always", images=True, fixed=(1.0, 1.0)),
    "kimi-k2.7-code-highspeed": FakeModel(262_144, "always", images=True, fixed=(1.0, 1.0)),
    "kimi-k3": FakeModel(1_048_576, "always", fixed=(1.0, 1.0)),
    "moonshot-v1-8k": FakeModel(8_192),
    "moonshot-v1-32k": FakeModel(32_768),
    "moonshot-v1-128k": FakeModel(131_072),
    "moonshot-v1-auto": FakeModel(131_072),
    "moonshot-v1-8k-vision-preview": FakeModel(8_192, images=True),
    "moonshot-v1-32k-vision-preview": FakeModel(32_768, images=True),
    "moonshot-v1-128k-vision-preview": FakeModel(131_072, images=True),
}
"""Moonshot's lineup in late 2026 (``shared/moonshot-api.md``)."""

DISCONTINUED = (
    "kimi-k2-0711-preview",
    "kimi-k2-0905-preview",
    "kimi-k2-turbo-preview",
    "kimi-k2-thinking",
    "kimi-k2-thinking-turbo",
    "kimi-latest",
)

LEGACY_MODELS = {
    "moonshot-v1-8k": FakeModel(8_192),
    "moonshot-v1-32k": FakeModel(32_768),
    "moonshot-v1-128k": FakeModel(131_072),
    "moonshot-v1-auto": FakeModel(131_072),
    "kimi-latest": FakeModel(131_072, images=True),
    "kimi-k2-0711-preview": FakeModel(131_072),
    "kimi-k2-0905-preview": FakeModel(262_144),
    "kimi-k2-turbo-preview": FakeModel(262_144),
    "kimi-k2-thinking": FakeModel(262_144, "always", fixed=(1.0, 1.0)),
    "kimi-k2-thinking-turbo": FakeModel(262_144, "always", fixed=(1.0, 1.0)),
}
"""The older lineup, served the older way: ``/models`` lists ids only, no budget by default, no
``max_completion_tokens`` (like the OpenAI-compatible servers that predate it)."""

DEFAULT_BUDGET = 1024
"""What Moonshot uses when a request names no budget ("a reasonable integer such as 1024")."""

ERRORS = {
    400: ("invalid_request_error", "Invalid request: bad parameters"),
    401: ("invalid_authentication_error", "Invalid Authentication"),
    403: ("permission_denied_error", "The API you are accessing is not open"),
    404: ("resource_not_found_error", "Not found the model or Permission denied"),
    429: (
        "rate_limit_reached_error",
        "Your account reached max request: 3, please try again after 1 seconds",
    ),
    500: ("server_error", "Internal server error"),
    503: ("engine_overloaded_error", "The engine is currently overloaded, please try again later"),
}


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


@dataclass
class Recorded:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class _Reply:
    """What one chat request is answered with, after the budget was applied."""

    model: str
    text: str
    reasoning: str
    prompt_tokens: int
    finish: str
    script: Script
    details: bool  # report completion_tokens_details (today's API)


def _cost(ch: str) -> float:
    return 1.0 if ord(ch) > 0x2E80 else 0.25


def within_budget(reasoning: str, text: str, budget: int) -> tuple[str, str, bool]:
    """Reasoning then text, cut where ``budget`` tokens run out (reasoning spends the budget first).

    Returns:
        What is sent of each, and whether the budget cut it.
    """
    total = estimate_tokens([{"content": reasoning}]) + estimate_tokens([{"content": text}]) - 8
    if total <= budget:
        return reasoning, text, False
    used = 0.0
    for index, ch in enumerate(reasoning):
        used += _cost(ch)
        if used > budget:
            return reasoning[:index], "", True
    for index, ch in enumerate(text):
        used += _cost(ch)
        if used > budget:
            return reasoning, text[:index], True
    return reasoning, text, False


IMAGE_TOKENS = 1_000
"""What the fake counts for a picture, whatever its size (real models count by resolution, not bytes)."""


def estimate_tokens(messages: list[dict[str, Any]]) -> int:
    """A rough token count: CJK characters count one each, other text one per four characters, a picture 1,000."""
    total = 0
    for message in messages:
        content = message.get("content") or ""
        parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
        for part in parts:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "image_url":
                total += IMAGE_TOKENS
                continue
            text = str(part.get("text") or "")
            cjk = sum(1 for ch in text if ord(ch) > 0x2E80)
            total += cjk + (len(text) - cjk + 3) // 4
        total += 4
    return total


def markdown_sample(kilobytes: int) -> str:
    """Realistic markdown of about ``kilobytes`` KB: headings, lists, a table, fenced code, CJK."""
    section = (
        "## Section {n}: streaming markdown\n\n"
        "A paragraph of prose explains **bold ideas**, `inline code` and a [link](https://example.com). "
        "中文段落也会出现，用来检查宽字符的对齐与换行。\n\n"
        "- first point about item {n}\n- second point, with *emphasis*\n- third point\n\n"
        "| name | value | note |\n|---|---|---|\n| alpha | {n} | ok |\n| beta | {m} | 好 |\n\n"
        '```python\ndef handler_{n}(event):\n    total = sum(range({n}))\n    return f"{{event}}: {{total}}"\n```\n\n'
    )
    return _repeated(section, kilobytes)


def _repeated(template: str, kilobytes: int) -> str:
    """``template`` formatted with ``n`` = 1, 2, … (and ``m`` = 7n) until the text reaches ``kilobytes`` KB."""
    parts: list[str] = []
    size = 0
    while not parts or size < kilobytes * 1024:
        n = len(parts) + 1
        parts.append(template.format(n=n, m=n * 7))
        size += len(parts[-1].encode())
    return "".join(parts)


HOSTILE_REPLY = (
    "Clearing your screen\x1b[2J\x1b[H and retitling it\x1b]0;pwned\x07, writing your clipboard "
    "\x1b]52;c;cm0gLXJmIH4=\x07, ending a paste \x1b[201~ and a C1 CSI \x9b31m.\n\n"
    "Log in at [https://bank.example/login](https://evil.example/x).\n\n"
    "Reversed: \u202eelif.exe\u202c and hidden\u200bspace, \U000e0069\U000e0067\U000e006e tags.\n\n"
    '```python\nif access_level != "user\u202e \u2066// Check if admin\u2069 \u2066":\n    grant()\n```\n'
)
"""A reply that tries every trick a reply can try on a terminal, a clipboard and a file."""


PACE_CHUNKS_PER_SECOND = 200


def code_sample(kilobytes: int) -> str:
    """One fenced block of about ``kilobytes`` KB of Python: a reply that is a single long code block."""
    function = (
        "# Section {n}: a function of the generated module\n"
        "def transform_{n}(rows: list[dict[str, int]], limit: int = {m}) -> dict[str, int]:\n"
        '    """Sum the values of each key, up to ``limit`` rows (说明：宽字符注释)."""\n'
        "    totals: dict[str, int] = {{}}\n"
        "    for index, row in enumerate(rows):\n"
        "        if index >= limit:\n"
        "            break\n"
        "        for key, value in row.items():\n"
        "            totals[key] = totals.get(key, 0) + value * {n}  # scaled by the section number\n"
        "    return totals\n\n\n"
    )
    return "```python\n" + _repeated(function, kilobytes).rstrip("\n") + "\n```\n\n"


def bench_reply(kilobytes: int, *, code: bool = False) -> str:
    """The benchmark's reply: ``kilobytes`` KB of markdown (or of one code block), then the line it waits for."""
    return (code_sample(kilobytes) if code else markdown_sample(kilobytes)) + BENCH_END + "\n"


# -- hostile inputs: ``!attack NAME N`` -----------------------------------------------------------------


def _ended(text: str) -> str:
    """``text``, then a blank line and the line the benchmark waits for (its own block: it shows even when the
    block before it is drawn cut short, with a note)."""
    return text.rstrip("\n") + "\n\n" + BENCH_END + "\n"


def _event_line(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


def _content_event(text: str, finish: str | None = None) -> bytes:
    return _event_line({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]})


DONE_EVENTS = _content_event("", "stop") + b"data: [DONE]\n\n"


def attack_brackets(n: int) -> str:
    """100 KB × ``n`` of ``<`` in one paragraph (a regular expression that restarted at each one took minutes)."""
    return _ended("Angle brackets: " + "<" * (100 * 1024 * n))


def attack_line(n: int) -> str:
    """One paragraph of 1 MB × ``n`` on a single line: prose with inline markdown and Chinese, no newline."""
    phrase = "The quick **brown** fox jumps over the `lazy` dog, [twice](https://example.com); 中文也在这一行。 "
    size = len(phrase.encode())
    return _ended(phrase * -(-1024 * 1024 * n // size))


def attack_table(n: int) -> str:
    """A markdown table of 25,000 × ``n`` rows."""
    rows = "".join(f"| {i} | item {i} | {7 * i} | ok |\n" for i in range(1, 25_000 * n + 1))
    return _ended("| # | name | value | note |\n|---|---|---|---|\n" + rows)


def attack_lines(n: int) -> str:
    """One paragraph of 125,000 × ``n`` short lines (no blank line between them)."""
    return _ended("".join(f"line {i}\n" for i in range(1, 125_000 * n + 1)))


def attack_links(n: int) -> str:
    """25,000 × ``n`` links in one paragraph, eight to a line."""
    links = (f"[link {i}](https://example.com/{i})" + (" " if i % 8 else "\n") for i in range(1, 25_000 * n + 1))
    return _ended("".join(links))


def attack_nesting(n: int) -> str:
    """Block quotes, lists and both together, each nested 10,000 × ``n`` deep (one line each)."""
    depth = 10_000 * n
    return _ended(
        "> " * depth
        + "quoted\n\n"
        + "- " * depth
        + "listed\n\n"
        + "> - " * (depth // 2)
        + "both\n\n"
        + "1. " * depth
        + "numbered\n"
    )


def attack_code(n: int) -> str:
    """One fenced code block of 2.5 MB × ``n``."""
    return _ended(code_sample(2560 * n))


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


ATTACKS_TEXT = {
    "brackets": attack_brackets,
    "line": attack_line,
    "table": attack_table,
    "lines": attack_lines,
    "links": attack_links,
    "nesting": attack_nesting,
    "code": attack_code,
}
"""Hostile replies streamed as a model would, N for their size: ``!attack NAME N``."""

ATTACKS_RAW = {
    "sseline": attack_sse_line,
    "deep": attack_deep,
    "surrogate": attack_surrogate,
    "null": attack_null_choice,
}
"""Hostile streams sent as raw bytes, in small pieces: ``!attack NAME N``."""

ATTACK_PIECE_BYTES = 1024
"""The pieces a raw attack is sent in."""

ATTACK_CHUNK_CHARS = {"line": 6, "brackets": 6}
"""Characters per streamed chunk of a text attack: as small as a model's for the long line and the brackets,
64 for the bulky ones (their point is their shape, not the count of events)."""

PING_SECONDS = 0.5


def attack_script(name: str, n: int) -> Script | None:
    """The script of ``!attack NAME N`` (None for an unknown NAME); ``pings`` ignores N: it sends only keep-alive
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


def directive_script(message: str) -> Script | None:
    """The script a hand-typed ``!directive`` asks for, if any."""
    words = message.strip().split()
    if not words or not words[0].startswith("!"):
        return None
    word, args = words[0][1:], words[1:]
    number = int(args[0]) if args and args[0].isdigit() else None
    if word == "error":
        return Script(status=number or 500, times=10)
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
    if word == "think":
        return Script(reasoning="Let me think about this step by step. " * 12, text="**Answer:** 42.", delay=0.03)
    if word == "hostile":
        return Script(text=HOSTILE_REPLY)
    if word == "attack" and args:  # a hostile reply or stream: !attack NAME N
        scale = int(args[1]) if len(args) > 1 and args[1].isdigit() else 1
        return attack_script(args[0], max(1, scale))
    if word == "chinese":
        return Script(text="# 你好\n\n这是一个**中文**回答。\n\n- 第一点\n- 第二点\n\n```python\nprint('你好')\n```\n")
    return None


class FakeMoonshot:
    """The server; use as a context manager or call :meth:`start` / :meth:`stop`."""

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, api_key: str | None = TEST_KEY, lineup: str = "current"
    ) -> None:
        """Args:
        lineup: ``current`` (Moonshot in late 2026) or ``legacy`` (the older lineup, served the older way).
        """
        if lineup not in ("current", "legacy"):
            raise ValueError(f"unknown lineup {lineup!r}")
        current = lineup == "current"
        self.api_key = api_key
        self.requests: list[Recorded] = []
        self.errors: list[str] = []
        self.refused: list[str] = []  # chat requests refused for their shape, as Moonshot refuses them
        self.scripts: deque[Script] = deque()
        self.models: dict[str, FakeModel] = dict(CURRENT_MODELS if current else LEGACY_MODELS)
        self.capabilities = current  # /models reports context_length and supports_* (else ids only)
        self.default_budget: int | None = DEFAULT_BUDGET if current else None
        self.budget_counts_input = current  # input + budget must fit the window
        self.accepts_max_completion_tokens = current
        self.retry_after_ms = 20
        self.balance = {"available_balance": 49.58894, "voucher_balance": 46.58893, "cash_balance": 3.00001}
        self.files: dict[str, dict[str, Any]] = {}
        self.remainders: dict[str, str] = {}  # a reply cut by its budget -> what the model had left to say
        self.estimate_status: int | None = None  # answer /tokenizers/estimate-token-count with this error
        self.models_status: int | None = None  # answer GET /models with this error
        self.models_body: bytes | None = None  # answer GET /models with these bytes (a hostile list)
        self.get_script: Script | None = None  # answer every GET with this script's raw body (a hostile server)
        self.get_delay = 0.0  # seconds before answering any GET (a slow server)
        self.search_rounds = 1  # web searches the model runs before it answers, when $web_search is offered
        self.search_result_tokens = 1_500  # what each search's results add to the next request
        self.search_refuses_thinking = False  # refuse $web_search with thinking on (reported, unconfirmed)
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeMoonshot:
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeMoonshot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, *scripts: Script) -> None:
        """Queue scripts for the next chat requests, in order."""
        with self._lock:
            self.scripts.extend(scripts)

    def chat_requests(self) -> list[dict[str, Any]]:
        """Bodies of every chat request received so far."""
        return [r.body for r in self.requests if r.path.endswith("/chat/completions")]

    def next_script(self, body: dict[str, Any]) -> Script:
        with self._lock:
            if self.scripts:
                script = self.scripts[0]
                script.times -= 1
                if script.times <= 0:
                    self.scripts.popleft()
                return script
        messages = body.get("messages") or []
        if messages and messages[-1].get("partial"):  # partial mode: go on from the reply so far
            rest = self.remainders.get(str(messages[-1].get("content")))
            return Script(text=rest if rest is not None else " …and that is the rest of the answer.")
        last_user = next((_text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
        directive = directive_script(str(last_user))
        if directive is not None:
            return directive
        turn = sum(1 for m in messages if m.get("role") == "user")
        return Script(text=f"Echo {turn}: {last_user}")


def _handler_for(server: FakeMoonshot) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        fake = server

    return Handler


class _Handler(BaseHTTPRequestHandler):
    fake: FakeMoonshot
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def handle(self) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client went away (Ctrl-C)
            super().handle()

    # -- plumbing -------------------------------------------------------------------------------
    def _record(self, body: Any) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.fake.requests.append(Recorded(self.command, self.path, headers, body))

    def _read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if "json" not in (self.headers.get("Content-Type") or "json"):
            return raw
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            return None

    def _send_json(self, status: int, payload: Any, extra_headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-trace-id", uuid.uuid4().hex[:16])
        for key, value in (extra_headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_bytes(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _raw(self, script: Script) -> None:
        """Answer with the script's own bytes (chunked, in pieces), then keep-alive comments if it asks."""
        self.send_response(script.status or 200)
        self.send_header("Content-Type", script.content_type)
        self.send_header("Transfer-Encoding", "chunked")
        for key, value in (script.headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        body = script.body or b""
        step = script.piece_bytes or max(1, len(body))
        try:
            for at in range(0, len(body), step):
                self._write_chunk(body[at : at + step])
                if script.delay:
                    time.sleep(script.delay)
            while script.pings:
                time.sleep(script.pings)
                self._write_chunk(b": ping\n\n")
            self._end_body()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _error(self, status: int, error_type: str | None = None, message: str | None = None) -> None:
        default_type, default_message = ERRORS.get(status, ("server_error", "error"))
        headers = {"retry-after-ms": str(self.fake.retry_after_ms)} if status in (429, 503) else {}
        body = {"error": {"message": message or default_message, "type": error_type or default_type}}
        self._send_json(status, body, headers)

    def _authorized(self) -> bool:
        if self.fake.api_key is None:
            return True
        if self.headers.get("Authorization") == f"Bearer {self.fake.api_key}":
            return True
        self._error(401)
        return False

    # -- routes ---------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._record(None)
        time.sleep(self.fake.get_delay)
        if not self._authorized():
            return
        if self.fake.get_script is not None:
            return self._raw(self.fake.get_script)
        if self.path.rstrip("/") == "/v1/models":
            if self.fake.models_status is not None:
                return self._error(self.fake.models_status)
            if self.fake.models_body is not None:
                return self._send_bytes(200, self.fake.models_body, "application/json")
            data = []
            for name, model in self.fake.models.items():
                entry: dict[str, Any] = {
                    "id": name,
                    "object": "model",
                    "created": 1711000000,
                    "owned_by": "moonshot",
                }
                if self.fake.capabilities:
                    entry.update(
                        context_length=model.window,
                        supports_reasoning=model.thinking != "never",
                        supports_image_in=model.images,
                        supports_video_in=model.video,
                    )
                data.append(entry)
            self._send_json(200, {"object": "list", "data": data})
        elif self.path == "/v1/users/me/balance":
            self._send_json(200, {"code": 0, "data": self.fake.balance, "scode": "0x0", "status": True})
        elif self.path == "/v1/files":
            listed = [{k: v for k, v in f.items() if k != "text"} for f in self.fake.files.values()]
            self._send_json(200, {"object": "list", "data": listed})
        elif self.path.startswith("/v1/files/") and self.path.endswith("/content"):
            stored = self.fake.files.get(self.path.split("/")[3])
            if stored is None:
                return self._error(404, "resource_not_found_error", "file not found")
            extracted = {
                "content": stored["text"],
                "file_type": stored["file_type"],
                "filename": stored["filename"],
                "title": "",
                "type": "file",
            }
            text = json.dumps(extracted, ensure_ascii=False).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)
        else:
            self._error(404, "resource_not_found_error", f"Not found: {self.path}")

    def do_POST(self) -> None:
        body = self._read_json()
        self._record(body)
        if not self._authorized():
            return
        if self.path == "/v1/chat/completions" and isinstance(body, dict):
            try:
                self._chat(body)
            except (BrokenPipeError, ConnectionResetError):
                raise
            except Exception as error:  # a bug here must show in the tests, not hang the client
                self.fake.errors.append(repr(error))
                raise
        elif self.path == "/v1/tokenizers/estimate-token-count" and isinstance(body, dict):
            if self.fake.estimate_status is not None:
                return self._error(self.fake.estimate_status)
            self._send_json(200, {"data": {"total_tokens": estimate_tokens(body.get("messages") or [])}})
        elif self.path == "/v1/files" and isinstance(body, bytes):
            self._upload(body)
        else:
            self._error(404, "resource_not_found_error", f"Not found: {self.path}")

    def do_DELETE(self) -> None:
        self._record(None)
        if not self._authorized():
            return
        file_id = self.path.removeprefix("/v1/files/")
        if self.fake.files.pop(file_id, None) is None:
            return self._error(404, "resource_not_found_error", "file not found")
        self._send_json(200, {"id": file_id, "object": "file", "deleted": True})

    def _upload(self, raw: bytes) -> None:
        """``POST /files``: multipart with ``file`` and ``purpose=file-extract``; the text is "extracted"."""
        message = BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + (self.headers.get("Content-Type") or "").encode() + b"\r\n\r\n" + raw
        )
        fields: dict[str, tuple[str | None, bytes]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            fields[str(name)] = (part.get_filename(), payload if isinstance(payload, bytes) else b"")
        purpose = fields.get("purpose", (None, b""))[1].decode()
        if "file" not in fields or purpose != "file-extract":
            return self._error(400, message=f"Invalid request: purpose must be file-extract, not {purpose!r}")
        filename, data = fields["file"]
        if data.startswith(b"%PDF"):
            text = data.split(b"\n", 1)[-1].decode("utf-8", "replace")  # the fake's "PDF" is text after a header
        else:
            text = data.decode("utf-8", "replace")
        file_id = "cn" + uuid.uuid4().hex[:18]
        record = {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": filename or "upload",
            "purpose": "file-extract",
            "status": "ok",
            "status_details": "",
            "file_type": (filename or "").rsplit(".", 1)[-1],
            "text": text,
        }
        self.fake.files[file_id] = record
        self._send_json(200, {k: v for k, v in record.items() if k not in ("text", "file_type")})

    def _chat(self, body: dict[str, Any]) -> None:
        fake = self.fake
        model = str(body.get("model"))
        messages = body.get("messages") or []
        served = fake.models.get(model)
        if served is None:
            return self._error(404, message=f"Not found the model {model} or Permission denied")
        refusal = self._refusal(body, served)
        if refusal:
            fake.refused.append(refusal)
            return self._error(400, message=refusal)
        thinks = served.thinking == "always" or (
            served.thinking == "switchable" and (body.get("thinking") or {}).get("type") != "disabled"
        )
        budget = body.get("max_completion_tokens", body.get("max_tokens", fake.default_budget))
        searched = _searches_since_the_question(messages)
        prompt_tokens = estimate_tokens(messages) + searched * fake.search_result_tokens
        needed = prompt_tokens + ((budget or 0) if fake.budget_counts_input else 0)
        if needed > served.window or prompt_tokens >= served.window:
            fake.refused.append(f"too long for {model}: {prompt_tokens} + {budget}")
            return self._error(
                400, message=f"Invalid request: Your request exceeded model token limit: {served.window}"
            )
        if _offers_web_search(body) and searched < fake.search_rounds:
            return self._search(model, messages, prompt_tokens, thinks)
        script = fake.next_script(body)
        time.sleep(script.first_byte_delay)
        if script.body is not None or script.pings:
            return self._raw(script)
        if script.status is not None and script.headers:
            return self._send_bytes(script.status, b"", "text/plain", script.headers)
        if script.status is not None:
            return self._error(script.status, script.error_type, script.message)
        reasoning = (script.reasoning or "Thinking it over. " * 4) if thinks else ""
        text = script.text if script.text is not None else ""
        finish = script.finish_reason
        if budget is not None and script.budget_applies:
            whole = text
            reasoning, text, cut = within_budget(reasoning, text, budget)
            if cut:
                finish = "length"
                last = messages[-1] if messages else {}
                so_far = str(last.get("content")) if last.get("partial") else ""
                fake.remainders[so_far + text] = whole[len(text) :]
        reply = _Reply(model, text, reasoning, prompt_tokens, finish, script, details=fake.capabilities)
        if not body.get("stream"):
            return self._complete(reply)
        self._stream(reply)

    def _refusal(self, body: dict[str, Any], served: FakeModel) -> str | None:
        """Moonshot's message for a request it refuses before answering, or None."""
        fake = self.fake
        model = body.get("model")
        if "max_completion_tokens" in body and not fake.accepts_max_completion_tokens:
            return "Unrecognized request argument supplied: max_completion_tokens"
        for name in ("max_completion_tokens", "max_tokens"):
            value = body.get(name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                return f"Invalid request: {name} must be a positive integer"
        thinking = body.get("thinking")
        if thinking is not None:
            kind = thinking.get("type") if isinstance(thinking, dict) else None
            if kind not in ("enabled", "disabled"):
                return f"Invalid request: thinking.type must be enabled or disabled, not {kind!r}"
            if served.thinking == "never":
                return f"Invalid request: {model} does not support thinking"
            if served.thinking == "always" and kind == "disabled":
                return f"Invalid request: {model} does not support non-thinking mode"
        messages = body.get("messages") or []
        thinks = served.thinking == "always" or (
            served.thinking == "switchable" and (thinking or {}).get("type") != "disabled"
        )
        if _offers_web_search(body) and thinks and fake.search_refuses_thinking:
            return "Invalid request: the builtin $web_search cannot be used while thinking is enabled"
        for message in messages:
            if not message.get("content") and not message.get("tool_calls"):
                return "Invalid request: message content must not be empty"
            if message.get("tool_calls") and thinks and not message.get("reasoning_content"):
                return "Invalid request: reasoning_content is required for assistant messages with tool_calls"
            parts = message.get("content") if isinstance(message.get("content"), list) else []
            if not served.images and any(isinstance(p, dict) and p.get("type") == "image_url" for p in parts):
                return f"Invalid request: {model} does not support image input"
        if messages and messages[-1].get("partial") and messages[-1].get("role") != "assistant":
            return "Invalid request: only the last assistant message can be partial"
        temperature = body.get("temperature")
        if temperature is not None and (not isinstance(temperature, (int, float)) or not 0 <= temperature <= 1):
            return f"Invalid request: temperature {temperature} out of range [0, 1]"
        if served.fixed is not None:
            switched_off = (thinking or {}).get("type") == "disabled"
            fixed = {"temperature": served.fixed[0 if switched_off else 1], "top_p": 0.95, "n": 1}
            fixed.update(presence_penalty=0, frequency_penalty=0)
            for name, value in fixed.items():
                if body.get(name) is not None and body[name] != value:
                    return f"invalid {name}: only {value:g} is allowed for this model"
        return None

    def _search(self, model: str, messages: list[dict[str, Any]], prompt_tokens: int, thinks: bool) -> None:
        """Answer with a ``$web_search`` call, streamed in pieces, as Moonshot does before it searches."""
        question = next((_text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
        arguments = json.dumps(
            {
                "search_result": {"search_id": f"search-{uuid.uuid4().hex[:8]}"},
                "usage": {"total_tokens": self.fake.search_result_tokens},
                "query": question[:60],
            },
            ensure_ascii=False,
        )
        call_id = f"call_{uuid.uuid4().hex[:8]}"
        reasoning = "I should look this up. " if thinks else ""
        pieces: list[dict[str, Any]] = [
            {
                "index": 0,
                "id": call_id,
                "type": "builtin_function",
                "function": {"name": "$web_search", "arguments": ""},
            }
        ]
        third = max(1, len(arguments) // 3)
        pieces += [
            {"index": 0, "function": {"arguments": arguments[i : i + third]}} for i in range(0, len(arguments), third)
        ]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        base = {"id": f"chatcmpl-{uuid.uuid4().hex[:8]}", "object": "chat.completion.chunk", "model": model}
        if reasoning:
            self._event({**base, "choices": [{"index": 0, "delta": {"reasoning_content": reasoning}}]})
        for piece in pieces:
            self._event({**base, "choices": [{"index": 0, "delta": {"tool_calls": [piece]}, "finish_reason": None}]})
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": 20, "total_tokens": prompt_tokens + 20}
        self._event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls", "usage": usage}]})
        self._write_chunk(b"data: [DONE]\n\n")
        self._end_body()

    def _usage(self, reply: _Reply) -> dict[str, Any]:
        completion = estimate_tokens([{"content": reply.text}]) + (
            estimate_tokens([{"content": reply.reasoning}]) if reply.reasoning else 0
        )
        usage: dict[str, Any] = {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": reply.prompt_tokens + completion,
        }
        cached = reply.script.cached_tokens
        if cached and reply.script.cached_style == "details":
            usage["prompt_tokens_details"] = {"cached_tokens": cached}
        elif cached:
            usage["cached_tokens"] = cached
        if reply.reasoning and reply.details:
            usage["completion_tokens_details"] = {"reasoning_tokens": estimate_tokens([{"content": reply.reasoning}])}
        return usage

    def _complete(self, reply: _Reply) -> None:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text}
        if reply.reasoning:
            message["reasoning_content"] = reply.reasoning
        self._send_json(
            200,
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:8]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": reply.model,
                "choices": [{"index": 0, "message": message, "finish_reason": reply.finish}],
                "usage": self._usage(reply),
            },
        )

    def _stream(self, reply: _Reply) -> None:
        script = reply.script
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-trace-id", uuid.uuid4().hex[:16])
        self.end_headers()
        base = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:8]}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": reply.model,
        }

        def chunk(
            delta: dict[str, Any], finish: str | None = None, usage: dict[str, Any] | None = None
        ) -> dict[str, Any]:
            choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish}
            if usage is not None:
                choice["usage"] = usage
            return {**base, "choices": [choice]}

        def pieces(s: str) -> list[str]:
            step = max(1, script.chunk_chars)
            return [s[i : i + step] for i in range(0, len(s), step)]

        try:
            self._event(chunk({"role": "assistant", "content": ""}))
            for piece in pieces(reply.reasoning):
                self._event(chunk({"reasoning_content": piece}))
                if script.delay:
                    time.sleep(script.delay)
            for count, piece in enumerate(pieces(reply.text), start=1):
                self._event(chunk({"content": piece}))
                if script.error_after is not None and count >= script.error_after:
                    self._event({"error": {"message": "The engine is currently overloaded", "type": "server_error"}})
                    self._end_body()
                    return
                if script.cut_after is not None and count >= script.cut_after:
                    if script.abrupt:
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    self._end_body()
                    return
                if script.delay:
                    time.sleep(script.delay)
            usage = self._usage(reply)
            in_choice = usage if script.usage_style in ("choice", "both") else None
            self._event(chunk({}, reply.finish, in_choice))
            if script.usage_style in ("top", "both"):
                self._event({**base, "choices": [], "usage": usage})
            self._write_chunk(b"data: [DONE]\n\n")
            self._end_body()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away (Ctrl-C): nothing to do

    def _event(self, payload: dict[str, Any]) -> None:
        self._write_chunk(f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode())

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_body(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _text_of(content: Any) -> str:
    """A message's text; a list of parts as its text and how many pictures came with it."""
    if not isinstance(content, list):
        return str(content or "")
    text = " ".join(str(p.get("text") or "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    pictures = sum(1 for p in content if isinstance(p, dict) and p.get("type") == "image_url")
    return f"{text} [{pictures} picture{'s' if pictures != 1 else ''}]" if pictures else text


def _offers_web_search(body: dict[str, Any]) -> bool:
    tools = body.get("tools") or []
    return any(isinstance(t, dict) and (t.get("function") or {}).get("name") == "$web_search" for t in tools)


def _searches_since_the_question(messages: list[dict[str, Any]]) -> int:
    """Tool messages after the last user message: searches already answered for this question."""
    count = 0
    for message in reversed(messages):
        if message.get("role") == "user":
            break
        count += message.get("role") == "tool"
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake Moonshot API server for trying kimi-repl.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--key", default=TEST_KEY, help="the API key it accepts ('' accepts any)")
    parser.add_argument(
        "--lineup", choices=("current", "legacy"), default="current", help="today's Moonshot, or the older one"
    )
    parser.add_argument("--get-delay", type=float, default=0.0, help="seconds before answering each GET")
    parser.add_argument(
        "--search-refuses-thinking", action="store_true", help="refuse $web_search while thinking (a 400)"
    )
    parser.add_argument(
        "--models-body",
        choices=MODELS_BODIES,
        help="answer GET /models with a hostile list: one model with a 5 MB id, or 200,000 models",
    )
    parser.add_argument("--models-scale", type=int, default=1, help="that list N times bigger")
    args = parser.parse_args()
    server = FakeMoonshot(port=args.port, api_key=args.key or None, lineup=args.lineup)
    server.get_delay = args.get_delay
    if args.models_body:
        server.models_body = hostile_models_body(args.models_body, args.models_scale)
    server.search_refuses_thinking = args.search_refuses_thinking
    print(f"Fake Moonshot ({args.lineup} lineup) at {server.base_url} (key {args.key or 'any'})", flush=True)
    server.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
