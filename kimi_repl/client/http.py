"""The HTTP side of the client: answers read bounded, gzip and deflate inflated a piece at a time, no redirects.

The SDK reads a whole answer it raises an error for, and the small endpoints' answers: the response hook
here reads those up to a limit first. A reply and the model list are streamed, read by kimi-repl itself.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Iterator
from typing import Any

from kimi_repl.client.errors import ChatError


@functools.cache
def transport_errors() -> tuple[type[BaseException], ...]:
    """The HTTP library's transport errors, in case the SDK lets one through while a stream is read."""
    import importlib

    errors: list[type[BaseException]] = []
    for name in ("httpx2", "httpx"):  # openai >= 3 uses httpx2, older releases httpx
        try:
            errors.append(importlib.import_module(name).TransportError)
        except ImportError:
            continue
    return tuple(errors)


MAX_ERROR_BYTES = 64 * 1024
"""The most read of an answer that is not a success: the message is in its first lines (the SDK reads it whole)."""

MAX_ANSWER_BYTES = 8 * 1024 * 1024
"""The most read of a small endpoint's answer (the balance, a token count)."""

MAX_EXTRACTED_BYTES = 64 * 1024 * 1024
"""The most read of a document's extracted text."""

DECODED_PIECE = 1 << 16
"""The most bytes inflated at once from a compressed answer."""


def body_chunks(response: Any) -> Iterator[bytes]:
    """The bytes of an httpx response, decompressed a piece at a time (never a whole gzip bomb at once).

    Raises:
        ChatError: an encoding kimi-repl does not read.
    """
    encoding = str(response.headers.get("content-encoding") or "identity").strip().lower()
    if encoding == "identity":
        yield from response.iter_raw()
        return
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise ChatError(f"The server sent its answer compressed with {encoding[:40]}, which kimi-repl does not read.")
    import zlib

    inflate = zlib.decompressobj(47)  # a gzip or zlib header, whichever it is
    for raw in response.iter_raw():
        try:
            piece = inflate.decompress(raw, DECODED_PIECE)
            while piece:
                yield piece
                piece = inflate.decompress(inflate.unconsumed_tail, DECODED_PIECE) if inflate.unconsumed_tail else b""
        except zlib.error:
            raise ChatError(f"The server's {encoding} answer cannot be read (damaged).") from None


def bounded_body(response: Any) -> None:
    """httpx response hook: an answer the SDK would read whole, however big, is read here up to its limit.

    That is any answer that is not a success (the SDK reads it to raise its error; the message is in the first
    :data:`MAX_ERROR_BYTES`), and the answers of the small endpoints (a balance, a token count: up to
    :data:`MAX_ANSWER_BYTES`; a document's extracted text: up to :data:`MAX_EXTRACTED_BYTES`). A body cut here
    is marked with an ``x-kimi-repl-cut`` header. A 429 for a used-up balance is marked not worth retrying, and
    so is a chat request's (the client waits it out, showing a countdown: :mod:`kimi_repl.client.ratelimit`).
    Streams (a reply, the model list) are read by kimi-repl itself, bounded, and are left alone.
    """
    path = str(response.request.url.path)
    if not response.is_success:
        limit = MAX_ERROR_BYTES
    elif path.endswith(("/users/me/balance", "/tokenizers/estimate-token-count")):
        limit = MAX_ANSWER_BYTES
    elif path.startswith("/") and "/files/" in path and path.endswith("/content"):
        limit = MAX_EXTRACTED_BYTES
    else:
        return
    parts: list[bytes] = []
    size = 0
    with contextlib.suppress(Exception):  # whatever arrived is the answer: a broken body is not a crash
        for chunk in body_chunks(response):
            parts.append(chunk)
            size += len(chunk)
            if size > limit:
                response.headers["x-kimi-repl-cut"] = "1"
                break
    response._content = b"".join(parts)[:limit]
    response.close()
    if response.status_code == 429 and (
        b"exceeded_current_quota_error" in response._content or path.endswith("/chat/completions")
    ):  # a used-up balance is not worth retrying; a chat request's rate limit is waited out by the client
        response.headers["x-should-retry"] = "false"


def http_client() -> Any:
    """The httpx client the SDK sends with: :func:`bounded_body` reads what the SDK would read whole, and no
    redirect is followed (a 307 would re-send the whole conversation to another host: curl's rule, too)."""
    from openai import DefaultHttpxClient

    return DefaultHttpxClient(event_hooks={"response": [bounded_body]}, follow_redirects=False)


def listed_entries(body: bytes | None, *, path: str, what: str, limit: int) -> list[Any]:
    """The ``data`` list of a ``GET path`` answer (an OpenAI-style list of ``what``), read up to ``limit`` bytes
    (``body`` None: it was bigger).

    Raises:
        ChatError: the answer is too big, not JSON, or not a list.
    """
    import json

    if body is None:
        raise ChatError(f"The server's list of {what} is bigger than {limit >> 20} MB: not read.")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise ChatError(f"The server's answer to GET {path} is not JSON.") from None
    entries = data.get("data") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ChatError(f"The server's answer to GET {path} is not a list of {what}.")
    return entries


def read_bounded(chunks: Iterable[bytes], limit: int) -> bytes | None:
    """The bytes of ``chunks``, or None once they pass ``limit`` (what came is dropped)."""
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
    return b"".join(parts)
