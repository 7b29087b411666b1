"""tests.fake: a Moonshot-compatible server on 127.0.0.1 for tests, the benchmark and trying kimi-repl by hand.

It follows ``docs/moonshot-api.md``: OpenAI-shaped chat completions streamed as SSE over chunked HTTP/1.1,
usage inside ``choices[0]`` of the last chunk (optionally also a top-level ``usage`` chunk),
``reasoning_content`` for thinking models, Moonshot's error bodies and status codes, ``x-trace-id``.

Two lineups: ``current`` is Moonshot in late 2026 (``GET /models`` with capabilities; the discontinued ids
answer 404; a request without a budget gets 1,024 tokens, reasoning included; input + budget must fit the
window; fixed sampling and the thinking switch refused as Moonshot refuses them; partial mode); ``legacy`` is
the older lineup served the older way (ids only, no default budget, ``max_completion_tokens`` refused as an
older OpenAI-compatible server refuses it).

Faults are injected two ways:
- tests queue :class:`Script` objects (``server.script(...)``), each consumed by one chat request;
- a person types a directive as the message (``%`` first: not something typed as a message, nor a shell command
  as ``!`` now is): ``%error 500``, ``%error 429``, ``%cut``, ``%drop``, ``%limit N`` (a 429 asking to wait N
  seconds, then the answer), ``%slow``, ``%markdown``, ``%long N`` (N KB of markdown), ``%code N`` (one N KB
  code block, at a pace), ``%think``, ``%chinese``, ``%hostile`` (escape sequences, bidi and invisible
  characters, a spoofed link), ``%page`` (raw HTML, links and pictures against a page saved with
  ``/save NAME.html``); and for the benchmark ``%bench N`` (N KB of markdown, as fast as it can),
  ``%benchcode N`` (one N KB code block), ``%pace N`` (200 chunks/s) and ``%drip`` (a short reply at 20
  chunks/s);
- hostile replies and streams, ``%attack NAME N`` (N times the size; each reply ends with a blank line and
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

The Files API (``files``): upload for extraction, the text, the list and delete in Moonshot's shapes;
``files_api = False`` (the ``legacy`` lineup's default, ``--no-files-api``) answers 404 as a server without
it does; ``extract_delay`` (``--extract-delay S``) slows the extraction; ``uploads`` names every upload.

Modules: ``lineups`` (the models served), ``files`` (the Files API), ``samples`` (texts the tests and bench/
use), ``scripts`` (:class:`Script`, the directives and the hostile streams), ``handler`` (the HTTP handler),
``server`` (:class:`FakeMoonshot` and the command line).

Run it by hand: ``python -m tests.fake --port 8765`` then
``MOONSHOT_BASE_URL=http://127.0.0.1:8765/v1 MOONSHOT_API_KEY=sk-test kimi-repl``.
"""

from __future__ import annotations

from tests.fake.handler import Recorded, within_budget
from tests.fake.lineups import (
    CURRENT_MODELS,
    DEFAULT_BUDGET,
    DISCONTINUED,
    ERRORS,
    IMAGE_TOKENS,
    LEGACY_MODELS,
    TEST_KEY,
    FakeModel,
    estimate_tokens,
)
from tests.fake.samples import (
    ATTACKS_TEXT,
    BENCH_END,
    DRIP_CHUNKS_PER_SECOND,
    HOSTILE_REPLY,
    PACE_CHUNKS_PER_SECOND,
    PAGE_ATTACKS,
    PAGE_HOSTILE_REPLY,
    attack_brackets,
    attack_code,
    attack_line,
    attack_lines,
    attack_links,
    attack_nesting,
    attack_table,
    bench_reply,
    code_sample,
    markdown_sample,
)
from tests.fake.scripts import (
    ATTACK_CHUNK_CHARS,
    ATTACK_PIECE_BYTES,
    ATTACKS_RAW,
    DONE_EVENTS,
    MODELS_BODIES,
    PING_SECONDS,
    SSE_LINE_FIRST,
    Script,
    attack_deep,
    attack_null_choice,
    attack_script,
    attack_sse_line,
    attack_surrogate,
    directive_script,
    hostile_models_body,
    rate_limited,
    sse_line_text,
)
from tests.fake.server import FakeMoonshot

__all__ = [
    "ATTACKS_RAW",
    "ATTACKS_TEXT",
    "ATTACK_CHUNK_CHARS",
    "ATTACK_PIECE_BYTES",
    "BENCH_END",
    "CURRENT_MODELS",
    "DEFAULT_BUDGET",
    "DISCONTINUED",
    "DONE_EVENTS",
    "DRIP_CHUNKS_PER_SECOND",
    "ERRORS",
    "HOSTILE_REPLY",
    "IMAGE_TOKENS",
    "LEGACY_MODELS",
    "MODELS_BODIES",
    "PACE_CHUNKS_PER_SECOND",
    "PAGE_ATTACKS",
    "PAGE_HOSTILE_REPLY",
    "PING_SECONDS",
    "SSE_LINE_FIRST",
    "TEST_KEY",
    "FakeModel",
    "FakeMoonshot",
    "Recorded",
    "Script",
    "attack_brackets",
    "attack_code",
    "attack_deep",
    "attack_line",
    "attack_lines",
    "attack_links",
    "attack_nesting",
    "attack_null_choice",
    "attack_script",
    "attack_sse_line",
    "attack_surrogate",
    "attack_table",
    "bench_reply",
    "code_sample",
    "directive_script",
    "estimate_tokens",
    "hostile_models_body",
    "markdown_sample",
    "rate_limited",
    "sse_line_text",
    "within_budget",
]
