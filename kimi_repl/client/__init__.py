"""The Moonshot API client.

Modules: :mod:`~kimi_repl.client.client` (:class:`MoonshotClient`: the SDK's calls, the model list),
:mod:`~kimi_repl.client.files` (the Files API: extraction with progress, the list, deleting),
:mod:`~kimi_repl.client.sse` (reading a reply's event stream into typed events), :mod:`~kimi_repl.client.http`
(bounded bodies, the response hook, no redirects), :mod:`~kimi_repl.client.errors` (:class:`ChatError` and the
sentence each failure becomes). The names other modules use are importable from here.
"""

from __future__ import annotations

from kimi_repl.client.client import MAX_MODELS_BYTES, MoonshotClient
from kimi_repl.client.errors import ChatError, ContextTooLong, ModelNotFound
from kimi_repl.client.http import body_chunks
from kimi_repl.client.sse import (
    MAX_EVENT_BYTES,
    ContentDelta,
    Finished,
    ReasoningDelta,
    StreamEvent,
    StreamIdle,
    StreamTooLong,
    ToolCallDelta,
    parse_chunk,
    sse_data,
)

__all__ = [
    "MAX_EVENT_BYTES",
    "MAX_MODELS_BYTES",
    "ChatError",
    "ContentDelta",
    "ContextTooLong",
    "Finished",
    "ModelNotFound",
    "MoonshotClient",
    "ReasoningDelta",
    "StreamEvent",
    "StreamIdle",
    "StreamTooLong",
    "ToolCallDelta",
    "body_chunks",
    "parse_chunk",
    "sse_data",
]
