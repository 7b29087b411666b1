"""Reading a reply's event stream: server-sent events cut from bytes (bounded), chunks parsed, typed events.

Every function here runs once per streamed token, so each works on bytes and plain JSON, and checks what an
untrusted server sent before anything later meets it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

from kimi_repl.client.errors import ChatError


class ContentDelta(NamedTuple):
    """A piece of the answer."""

    text: str


class ReasoningDelta(NamedTuple):
    """A piece of a thinking model's ``reasoning_content``."""

    text: str


class ToolCallDelta(NamedTuple):
    """A piece of a tool call (``delta.tool_calls``): pieces of one call share its ``index`` (here ``position``);
    the first names it."""

    position: int
    id: str = ""
    type: str = ""
    name: str = ""
    arguments: str = ""


class Finished(NamedTuple):
    """The last chunk: why the model stopped and the usage it reported (either may be missing)."""

    reason: str | None
    usage: dict[str, Any] | None


StreamEvent = ContentDelta | ReasoningDelta | ToolCallDelta | Finished


MAX_EVENT_BYTES = 8 * 1024 * 1024
"""The longest server-sent line or event read: a chunk of a reply is a few hundred bytes; more is a broken or
hostile server, and holding it whole would only cost memory."""


class StreamTooLong(ChatError):
    """A line or an event of the stream is longer than :data:`MAX_EVENT_BYTES`."""


class StreamIdle(ChatError):
    """The server sent no data (only keep-alive comments, or nothing) for longer than the timeout."""


def sse_data(
    chunks: Iterable[bytes],
    *,
    max_bytes: int = MAX_EVENT_BYTES,
    idle_limit: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[bytes]:
    """The ``data`` of each server-sent event in a byte stream (several ``data:`` lines of one event joined by
    newlines), by the spec: lines end with CR LF, LF or CR; comments and other fields are skipped.

    Bytes, split by ``bytes.split``: this runs once per streamed token, and decoding and splitting every
    line in Python (as a text reader does) costs more than everything else kimi-repl does with the token.
    A line that arrives in many pieces is joined once, when it ends (linear however long it is).

    Args:
        max_bytes: the longest line or event; beyond it :class:`StreamTooLong`.
        idle_limit: seconds the stream may go without an event's data (keep-alive comments do not count);
            beyond it :class:`StreamIdle`.

    Raises:
        StreamTooLong, StreamIdle: what the names say (the events before it were yielded).
    """
    data: list[bytes] = []
    data_size = 0
    rest: list[bytes] = []  # the pieces of an unfinished line (a CR at its end may be half of CR LF)
    rest_size = 0
    waited = 0.0  # seconds spent waiting for the network since the last event's data (not the reader's time)
    source = iter(chunks)
    while True:
        asked = clock()
        chunk = next(source, None)
        if chunk is None:
            break
        waited += clock() - asked
        # The usual chunk, one whole event: ``data: {...}`` and a blank line (no CR: it would end a line).
        if (
            not rest
            and not data
            and chunk.startswith(b"data: ")
            and chunk.find(b"\n") == len(chunk) - 2
            and chunk.endswith(b"\n\n")
            and b"\r" not in chunk
            and len(chunk) <= max_bytes
        ):
            waited = 0.0
            yield chunk[6:-2]
            continue
        if b"\n" not in chunk and b"\r" not in chunk:
            rest.append(chunk)
            rest_size += len(chunk)
            if rest_size > max_bytes:
                raise StreamTooLong(_too_long(max_bytes))
        else:
            text = b"".join(rest) + chunk if rest else chunk
            held = b""
            if b"\r" in text:
                if text.endswith(b"\r"):  # perhaps the first half of CR LF: decide when the next chunk comes
                    text, held = text[:-1], b"\r"
                text = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            lines = text.split(b"\n")
            last = lines.pop() + held
            rest, rest_size = ([last], len(last)) if last else ([], 0)
            if rest_size > max_bytes:
                raise StreamTooLong(_too_long(max_bytes))
            for line in lines:
                if not line:
                    if data:
                        waited = 0.0
                        yield b"\n".join(data)
                        data, data_size = [], 0
                elif line.startswith(b"data:"):
                    value = line[6:] if line[5:6] == b" " else line[5:]
                    data.append(value)
                    data_size += len(value)
                    if data_size > max_bytes:
                        raise StreamTooLong(_too_long(max_bytes))
        if idle_limit is not None and waited > idle_limit:
            raise StreamIdle(f"The server sent no reply for {idle_limit:g} s, only keep-alive messages.")
    last_line = b"".join(rest).rstrip(b"\r")
    if last_line.startswith(b"data:"):
        data.append(last_line[6:] if last_line[5:6] == b" " else last_line[5:])
    if data:
        yield b"\n".join(data)


def _too_long(max_bytes: int) -> str:
    return f"The server sent a line of more than {max_bytes // 1_048_576} MB in the stream: it is not read further."


_decode_json = json.JSONDecoder().raw_decode
_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_chunk(data: bytes) -> dict[str, Any]:
    """One streamed chunk; a chunk that is not a JSON object is a broken stream.

    ``raw_decode`` of the UTF-8 text (what ``json.loads`` does in the end) skips its encoding sniffing and
    whitespace scans, which would otherwise run once per token. Bytes that are not UTF-8 and lone surrogates
    (``\\ud800``, which no terminal or file can take) become U+FFFD here, so nothing later meets them.
    """
    try:
        text = data.decode()
    except UnicodeDecodeError:
        text = data.decode(errors="replace")
    try:
        text = text.strip()
        chunk, end = _decode_json(text)
        if end != len(text):
            raise ValueError("extra data")
    except (ValueError, RecursionError):
        raise ChatError(f"The server sent something that is not JSON in the stream: {data[:80]!r}") from None
    if not isinstance(chunk, dict):
        raise ChatError(f"The server sent an unexpected chunk in the stream: {data[:80]!r}")
    if "\\ud" in text or "\\uD" in text:  # an escaped surrogate: a pair is fine, a lone one is not
        try:
            chunk = dict(_without_surrogates(chunk))
        except RecursionError:
            raise ChatError("The server sent a chunk nested too deeply to read in the stream.") from None
    return chunk


def _without_surrogates(value: Any) -> Any:
    """``value`` with lone surrogates in its strings (keys too) replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_without_surrogates(key): _without_surrogates(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_surrogates(item) for item in value]
    return value


class ChunkReader:
    """The events of a stream's chunks, and how the stream ended: the last finish reason and usage it sent."""

    def __init__(self) -> None:
        self.finish: str | None = None
        self.usage: dict[str, Any] | None = None
        self.characters = 0  # of answer, reasoning and tool calls so far: a reply is bounded in total too
        self.progressed = False  # the last chunk read added to the reply

    @property
    def ending(self) -> bool:
        """A finish reason or the usage arrived: what follows may close the stream, not make the reply grow."""
        return self.finish is not None or self.usage is not None

    def events(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        """The reasoning, answer and tool-call pieces of ``chunk``, in order (its finish reason and usage kept).

        A list, built in one go: this runs once per streamed token. :attr:`progressed` says afterwards whether
        the chunk added to the reply (a piece, or how it ended, the first time), unlike an empty delta or the
        same ending again.

        Raises:
            ChatError: the chunk is malformed.
        """
        ended = self.ending
        found: list[StreamEvent] = []
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.usage = usage
        choices = chunk.get("choices")
        if choices is not None and not isinstance(choices, list):
            raise ChatError(malformed("choices that are not a list of objects"))
        for choice in choices or ():
            if not isinstance(choice, dict):
                raise ChatError(malformed("choices that are not a list of objects"))
            delta = choice.get("delta") or {}
            if not isinstance(delta, dict):
                raise ChatError(malformed("a delta that is not an object"))
            reasoning = delta.get("reasoning_content")
            if reasoning and isinstance(reasoning, str):
                self._count(len(reasoning))
                found.append(ReasoningDelta(reasoning))
            content = delta.get("content")
            if content and isinstance(content, str):
                self._count(len(content))
                found.append(ContentDelta(content))
            calls = delta.get("tool_calls")
            if calls:
                found += self._calls(calls)
            if choice.get("finish_reason"):
                self.finish = finish_reason(choice["finish_reason"])
            usage = choice.get("usage")
            if isinstance(usage, dict):
                self.usage = usage
        self.progressed = bool(found) or (self.ending and not ended)
        return found

    def _calls(self, calls: Any) -> list[StreamEvent]:
        if not isinstance(calls, list):
            raise ChatError(malformed("tool calls that are not a list"))
        found: list[StreamEvent] = []
        for call in calls:
            if isinstance(call, dict):
                event = _tool_call_delta(call)
                self._count(len(event.arguments) + len(event.name) + len(event.id))
                found.append(event)
        return found

    def _count(self, characters: int) -> None:
        self.characters += characters
        if self.characters > MAX_REPLY_CHARS:
            raise ChatError(
                f"The reply passed {MAX_REPLY_CHARS:,} characters, more than any model writes: kimi-repl stopped "
                "reading it."
            )

    def finished(self) -> Finished:
        """The last event: how the stream ended (a None ``reason``: it ended early)."""
        return Finished(self.finish, self.usage)


def completion_events(completion: dict[str, Any]) -> Iterator[StreamEvent]:
    """The events of a whole completion (a server that ignores ``stream``): its first choice, then Finished.

    Raises:
        ChatError: it has no choices, or they are malformed.
    """
    for choice in choices(completion):
        answer = choice.get("message") or {}
        if not isinstance(answer, dict):
            raise ChatError(malformed("a message that is not an object"))
        for field, event in (("reasoning_content", ReasoningDelta), ("content", ContentDelta)):
            value = answer.get(field)
            if value and isinstance(value, str):
                yield event(value)
        finish = finish_reason(choice["finish_reason"]) if choice.get("finish_reason") else None
        usage = completion.get("usage")
        yield Finished(finish, usage if isinstance(usage, dict) else None)
        return
    raise ChatError(malformed("a completion without choices"))


def _tool_call_delta(call: dict[str, Any]) -> ToolCallDelta:
    function = call.get("function")
    if not isinstance(function, dict):
        function = {}
    index = call.get("index")

    def text(value: Any) -> str:
        return value if isinstance(value, str) else ""

    return ToolCallDelta(
        position=index if isinstance(index, int) and not isinstance(index, bool) else 0,
        id=text(call.get("id")),
        type=text(call.get("type")),
        name=text(function.get("name")),
        arguments=text(function.get("arguments")),
    )


MAX_FINISH_REASON = 40
"""The longest finish reason taken (``stop``, ``length``, ``tool_calls``...)."""


def choices(chunk: dict[str, Any]) -> list[dict[str, Any]]:
    """The chunk's choices, checked: a list of objects (or none)."""
    choices = chunk.get("choices")
    if choices is None:
        return []
    if not isinstance(choices, list) or not all(isinstance(choice, dict) for choice in choices):
        raise ChatError(malformed("choices that are not a list of objects"))
    return choices


MAX_REPLY_CHARS = 16_000_000
"""The most text one reply may bring (answer, reasoning and tool calls together): far beyond any model's output
limit, and a bound on what a server that never stops can make kimi-repl hold and save."""


def finish_reason(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_FINISH_REASON:
        raise ChatError(malformed("a finish reason that is not a short text"))
    return value


def malformed(what: str) -> str:
    return f"The server sent a malformed chunk in the stream ({what})."
