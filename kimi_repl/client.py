"""The Moonshot API through the openai SDK: built lazily, streamed as typed events, errors made readable.

The SDK is imported on first use, not at start-up, so the prompt appears before it has loaded.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from kimi_repl.config import Settings
from kimi_repl.errors import UserError
from kimi_repl.interrupts import allowed, held
from kimi_repl.redaction import Secret
from kimi_repl.request import BUDGET_FIELD, LEGACY_BUDGET_FIELD, ChatRequest
from kimi_repl.values import public_url

if TYPE_CHECKING:
    from openai import OpenAI


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


class ChatError(UserError):
    """A request to Moonshot failed.

    Attributes:
        status: the HTTP status the server answered with, if it answered.
    """

    status: int | None = None


class ContextTooLong(ChatError):
    """The server refused the request as too long for the model's window (``window`` if it said)."""

    def __init__(self, message: str, window: int | None) -> None:
        super().__init__(message)
        self.window = window


class ModelNotFound(ChatError):
    """The server does not serve ``model`` (Moonshot answers 404 for a discontinued id)."""

    def __init__(self, message: str, model: str) -> None:
        super().__init__(message)
        self.model = model


_TOKEN_LIMIT = re.compile(r"token limit\D{0,20}(\d+)", re.IGNORECASE)


def _transport_errors() -> tuple[type[BaseException], ...]:
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


def _bounded_body(response: Any) -> None:
    """httpx response hook: an answer the SDK would read whole, however big, is read here up to its limit.

    That is any answer that is not a success (the SDK reads it to raise its error; the message is in the first
    :data:`MAX_ERROR_BYTES`), and the answers of the small endpoints (a balance, a token count: up to
    :data:`MAX_ANSWER_BYTES`; a document's extracted text: up to :data:`MAX_EXTRACTED_BYTES`). A body cut here
    is marked with an ``x-kimi-repl-cut`` header. A 429 for a used-up balance is marked not worth retrying.
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
    if response.status_code == 429 and b"exceeded_current_quota_error" in response._content:
        response.headers["x-should-retry"] = "false"


class MoonshotClient:
    """A thin wrapper of the openai SDK pointed at Moonshot.

    Waiting for the server may always be interrupted: every request runs :func:`~kimi_repl.interrupts.allowed`.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.secret = Secret(settings.api_key)
        self._sdk: OpenAI | None = None
        self._models: list[dict[str, Any]] | None = None
        self._models_error: str | None = None
        self._models_failed_at = 0.0
        self._sdk_lock = threading.Lock()
        self._models_lock = threading.Lock()
        self.budget_field = BUDGET_FIELD
        """The name the server takes the reply budget under (``max_tokens`` once it refused the other)."""

    @property
    def sdk(self) -> OpenAI:
        """The SDK client, created (and the SDK imported) on first use, or by :meth:`preload`."""
        sdk = self._sdk
        if sdk is not None:
            return sdk
        with held(), self._sdk_lock:  # a lock is only taken while held: an interrupt must never leave it taken
            return self._create_sdk()

    def preload(self) -> None:
        """Import the SDK and create the client now (from a background thread, while the user types)."""
        with held(), self._sdk_lock:
            self._create_sdk()

    def _create_sdk(self) -> OpenAI:
        if self._sdk is None:
            from openai import DefaultHttpxClient, OpenAI

            s = self.settings
            # No redirects: a 307 would re-send the whole conversation to another host (curl's rule, too).
            http_client = DefaultHttpxClient(event_hooks={"response": [_bounded_body]}, follow_redirects=False)
            self._sdk = OpenAI(
                api_key=s.api_key,
                base_url=s.base_url,
                timeout=s.timeout,
                max_retries=s.max_retries,
                http_client=http_client,
                default_headers={"Accept-Encoding": "identity"},  # a stream needs no compression; a bomb cannot hide
            )
        return self._sdk

    def stream_chat(self, request: ChatRequest) -> Generator[StreamEvent, None, None]:
        """Send ``request`` and yield what arrives.

        The SDK sends the request (authentication, retries with backoff, timeouts, HTTP errors); the
        server-sent events are read here, as plain JSON: Moonshot's extras (``reasoning_content``, usage
        inside ``choices[0]``) are not in the SDK's typed chunks anyway, and skipping a pydantic model per
        chunk makes reading a long reply several times cheaper. The last event is a :class:`Finished`;
        its ``reason`` is None when the stream ended early.

        Raises:
            ChatError: the request failed, or the connection broke while reading.
        """
        import openai

        finish: str | None = None
        usage: dict[str, Any] | None = None
        connection_lost: tuple[type[BaseException], ...] = (openai.APIConnectionError, *_transport_errors())
        try:
            with contextlib.ExitStack() as stack:
                response = self._open(stack, request)
                kind = str(response.headers.get("content-type") or "").lower()
                if kind and "event-stream" not in kind:
                    yield from self._whole_reply(response, kind)
                    return
                idle = self.settings.timeout
                progress_at = time.monotonic()  # when the reply last grew (events that bring nothing do not count)
                for data in sse_data(body_chunks(response.http_response), idle_limit=idle):
                    if data == b"[DONE]":
                        break
                    if time.monotonic() - progress_at > idle:
                        raise StreamIdle(f"The server sent no reply for {idle:g} s, only empty events.")
                    chunk = parse_chunk(data)
                    progress_at = time.monotonic() if _brings_something(chunk) else progress_at
                    if "error" in chunk:
                        error_type, message = _error_body(chunk)
                        stopped = f"Moonshot stopped the reply with an error: {message or error_type}"
                        raise ChatError(self.clean(stopped))
                    if isinstance(chunk.get("usage"), dict):
                        usage = chunk["usage"]
                    for choice in _choices(chunk):
                        delta = choice.get("delta") or {}
                        if not isinstance(delta, dict):
                            raise ChatError(_malformed("a delta that is not an object"))
                        reasoning = delta.get("reasoning_content")
                        if reasoning and isinstance(reasoning, str):
                            yield ReasoningDelta(reasoning)
                        content = delta.get("content")
                        if content and isinstance(content, str):
                            yield ContentDelta(content)
                        calls = delta.get("tool_calls") or []
                        if not isinstance(calls, list):
                            raise ChatError(_malformed("tool calls that are not a list"))
                        for call in calls:
                            if isinstance(call, dict):
                                yield _tool_call_delta(call)
                        if choice.get("finish_reason"):
                            finish = _finish_reason(choice["finish_reason"])
                        if isinstance(choice.get("usage"), dict):
                            usage = choice["usage"]
        except openai.APIError as error:
            raise self.error(error, model=request.model) from None
        except connection_lost as error:
            cause = error.__cause__ or error
            raise ChatError(self.clean(f"The connection broke while the reply was streaming ({cause}).")) from None
        yield Finished(finish, usage)

    def _whole_reply(self, response: Any, kind: str) -> Iterator[StreamEvent]:
        """The events of an answer that is not a stream: a whole completion (a server that ignores ``stream``),
        an error object, or a page that is not the API at all.

        Raises:
            ChatError: it is not a completion.
        """
        body = _read_bounded(body_chunks(response.http_response), MAX_EVENT_BYTES * 8)
        if "json" not in kind or body is None:
            shown = kind.split(";")[0].strip()[:60]
            raise ChatError(
                self.clean(
                    f"{public_url(self.settings.base_url)} answered with {shown}, not a stream of events: "
                    "check that it is the API's base URL (MOONSHOT_BASE_URL)."
                )
            )
        completion = parse_chunk(body)
        if "error" in completion:
            error_type, message = _error_body(completion)
            raise ChatError(self.clean(f"Moonshot refused the request: {message or error_type}"))
        for choice in _choices(completion):
            answer = choice.get("message") or {}
            if not isinstance(answer, dict):
                raise ChatError(_malformed("a message that is not an object"))
            for field, event in (("reasoning_content", ReasoningDelta), ("content", ContentDelta)):
                value = answer.get(field)
                if value and isinstance(value, str):
                    yield event(value)
            finish = _finish_reason(choice["finish_reason"]) if choice.get("finish_reason") else None
            usage = completion.get("usage")
            yield Finished(finish, usage if isinstance(usage, dict) else None)
            return
        raise ChatError(_malformed("a completion without choices"))

    def _open(self, stack: contextlib.ExitStack, request: ChatRequest) -> Any:
        """Send the request and return the streaming response.

        A server that refuses ``max_completion_tokens`` (older OpenAI-compatible ones) is asked again with
        ``max_tokens``, and keeps getting that for the rest of the session.
        """
        import openai

        create = self.sdk.chat.completions.with_streaming_response.create

        def send() -> Any:
            # The whole body goes as extra_body: the SDK would otherwise check every message of the
            # conversation against its types on each request (0.1 ms a message: half a second for a long
            # session), only to send the same JSON.
            body = request.body(self.budget_field)
            return stack.enter_context(create(model=request.model, messages=[], stream=True, extra_body=body))

        try:
            return send()
        except openai.BadRequestError as error:
            if self.budget_field == LEGACY_BUDGET_FIELD or self.budget_field not in _error_body(error)[1]:
                raise
        self.budget_field = LEGACY_BUDGET_FIELD
        return send()

    def list_models(self, *, retry_failed: bool = True) -> list[dict[str, Any]]:
        """``GET /models``, fetched once and cached (a second caller waits for a fetch under way).

        What a server lists is untrusted: the answer is read up to :data:`MAX_MODELS_BYTES`, ids that cannot be
        model names are left out, and at most :data:`MAX_MODELS` are kept, each with only the fields read.

        Args:
            retry_failed: ask again after an earlier failure (False for Tab completion and notices, which must
                not wait on a server that is down: they ask again only :data:`MODELS_RETRY_SECONDS` later).

        Raises:
            ChatError: the request failed (now, or earlier when ``retry_failed`` is False).
        """
        models = self._models
        if models is not None:
            return models
        with held(), self._models_lock:  # the fetch inside is allowed to be interrupted; the lock is let go
            if self._models is None:
                import openai

                recent = time.monotonic() - self._models_failed_at < MODELS_RETRY_SECONDS
                if self._models_error is not None and not retry_failed and recent:
                    raise ChatError(self._models_error)
                try:
                    quick = self.sdk.with_options(max_retries=0, timeout=min(self.settings.timeout, MODELS_TIMEOUT))
                    with allowed(), quick.models.with_streaming_response.list() as response:
                        body = _read_bounded(body_chunks(response.http_response), MAX_MODELS_BYTES)
                    self._models = _model_entries(body)
                except openai.APIError as error:
                    self._models_error, self._models_failed_at = self.describe(error), time.monotonic()
                    raise ChatError(self._models_error) from None
                except ChatError as error:
                    self._models_error, self._models_failed_at = str(error), time.monotonic()
                    raise
            return self._models

    @property
    def models_fetched(self) -> bool:
        """Whether ``GET /models`` has answered (so looking at it costs nothing)."""
        return self._models is not None

    def model_entry(self, model: str) -> dict[str, Any] | None:
        """``model``'s entry in ``GET /models``, if that was fetched and lists it."""
        return next((entry for entry in self._models or () if entry.get("id") == model), None)

    def estimate_tokens(self, messages: list[dict[str, Any]], *, model: str) -> int | None:
        """Moonshot's count of the tokens ``messages`` make for ``model``; None when the server cannot say."""
        import openai

        try:
            with allowed():
                data = self.sdk.with_options(max_retries=0, timeout=15).post(
                    "/tokenizers/estimate-token-count", body={"model": model, "messages": messages}, cast_to=object
                )
        except (openai.APIError, ValueError, RecursionError):  # a failure, or an answer that is not JSON
            return None
        inner = data.get("data") if isinstance(data, dict) else None
        total = inner.get("total_tokens") if isinstance(inner, dict) else None
        return total if isinstance(total, int) and not isinstance(total, bool) and 0 <= total <= 10**12 else None

    def balance(self) -> dict[str, float]:
        """The account's balance (``available_balance``, ``voucher_balance``, ``cash_balance``).

        Raises:
            ChatError: the request failed or the answer was not a balance.
        """
        import openai

        try:
            with allowed():
                data = self.sdk.get("/users/me/balance", cast_to=object)
        except openai.APIError as error:
            raise self.error(error) from None
        except (ValueError, RecursionError):
            raise ChatError("The server's answer to /users/me/balance was not a balance.") from None
        inner = data.get("data") if isinstance(data, dict) else None
        if not isinstance(inner, dict):
            raise ChatError("The server's answer to /users/me/balance was not a balance.")
        return {
            str(k): float(v)
            for k, v in inner.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < 1e15  # a float, and believable
        }

    def extract_file(self, path: Path, data: bytes) -> tuple[str, str]:
        """Upload a file for Moonshot to extract its text (purpose ``file-extract``), then delete the upload.

        Returns:
            The file id, and the extracted content (a JSON document, as text).

        Raises:
            ChatError: the upload or the extraction failed.
        """
        import openai

        try:
            with allowed():
                uploaded = self.sdk.files.create(file=(path.name, data), purpose="file-extract")  # type: ignore[arg-type]
                extracted = self.sdk.files.content(uploaded.id)
                content = extracted.text
        except openai.APIError as error:
            raise self.error(error) from None
        if extracted.response.headers.get("x-kimi-repl-cut"):
            with contextlib.suppress(openai.APIError):
                self.sdk.files.delete(uploaded.id)
            raise ChatError(f"The text extracted from {path.name} is bigger than {MAX_EXTRACTED_BYTES >> 20} MB.")
        with contextlib.suppress(openai.APIError):  # the text is kept here; the upload need not stay
            self.sdk.files.delete(uploaded.id)
        return uploaded.id, content

    def error(self, error: BaseException, *, model: str | None = None) -> ChatError:
        """The :class:`ChatError` to raise for an SDK error."""
        import openai

        text = self.describe(error, model=model)
        _, message = _error_body(error)
        if isinstance(error, openai.BadRequestError) and _is_context_overflow(message):
            found = _TOKEN_LIMIT.search(message)
            return ContextTooLong(text, int(found.group(1)) if found else None)
        failure = (
            ModelNotFound(text, model)
            if isinstance(error, openai.NotFoundError) and model and _names_the_model(message, model)
            else ChatError(text)
        )
        failure.status = getattr(error, "status_code", None)
        return failure

    def describe(self, error: BaseException, *, model: str | None = None) -> str:
        """One line that says what went wrong and what to do, never containing the API key."""
        import openai

        text = _describe(error, settings=self.settings, model=model or self.settings.model or "", sdk=openai)
        trace = _trace_id(error)
        if trace:
            text += f" [trace id {trace[:64]}]"
        return self.clean(text)

    def clean(self, text: str) -> str:
        """``text`` fit to show: one line, without the API key or the base URL's ``user:password``."""
        base = self.settings.base_url
        shown = public_url(base)
        if shown != base:
            text = text.replace(base, shown)
        return self.secret.redact(_one_line(text))


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
MAX_MODELS_BYTES = 4 * 1024 * 1024
"""The largest ``GET /models`` answer read (Moonshot's is a few KB)."""
MODELS_TIMEOUT = 15.0
"""Seconds to wait for ``GET /models`` (a convenience: the chat goes on without it), tried once."""
MODELS_RETRY_SECONDS = 30.0
"""After a failed ``GET /models``, callers that must not wait (Tab completion, notices) ask again after this."""
MAX_MODELS = 1000
"""The most models kept from the list (Moonshot lists a dozen)."""
_MODEL_FIELDS = ("id", "context_length", "supports_reasoning", "supports_image_in", "supports_video_in")


def _model_entries(body: bytes | None) -> list[dict[str, Any]]:
    """The usable entries of a ``GET /models`` answer: ids that can be model names, at most :data:`MAX_MODELS`,
    each with only the fields kimi-repl reads (and only scalar values).

    Raises:
        ChatError: the answer is too big or not a list of models.
    """
    from kimi_repl.values import check_model_name

    if body is None:
        raise ChatError(f"The server's list of models is bigger than {MAX_MODELS_BYTES // 1_048_576} MB: not read.")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise ChatError("The server's answer to GET /models is not JSON.") from None
    entries = data.get("data") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ChatError("The server's answer to GET /models is not a list of models.")
    kept: list[dict[str, Any]] = []
    seen: set[str] = set()
    for entry in entries:
        model = entry.get("id") if isinstance(entry, dict) else None
        if not isinstance(model, str) or model in seen:
            continue
        try:
            check_model_name(model)
        except ValueError:
            continue
        seen.add(model)
        kept.append({k: entry[k] for k in _MODEL_FIELDS if isinstance(entry.get(k), (str, int, float, bool))})
        if len(kept) >= MAX_MODELS:
            break
    return kept


def _choices(chunk: dict[str, Any]) -> list[dict[str, Any]]:
    """The chunk's choices, checked: a list of objects (or none)."""
    choices = chunk.get("choices")
    if choices is None:
        return []
    if not isinstance(choices, list) or not all(isinstance(choice, dict) for choice in choices):
        raise ChatError(_malformed("choices that are not a list of objects"))
    return choices


def _brings_something(chunk: dict[str, Any]) -> bool:
    """Whether a chunk adds to the reply (text, reasoning, a tool call, how it ended), unlike an empty delta."""
    for choice in chunk.get("choices") or ():
        if isinstance(choice, dict):
            delta = choice.get("delta")
            if choice.get("finish_reason") or (isinstance(delta, dict) and any(delta.get(k) for k in _PROGRESS)):
                return True
    return "error" in chunk or "usage" in chunk


_PROGRESS = ("content", "reasoning_content", "tool_calls")


def _finish_reason(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_FINISH_REASON:
        raise ChatError(_malformed("a finish reason that is not a short text"))
    return value


def _malformed(what: str) -> str:
    return f"The server sent a malformed chunk in the stream ({what})."


def _read_bounded(chunks: Iterable[bytes], limit: int) -> bytes | None:
    """The bytes of ``chunks``, or None once they pass ``limit`` (what came is dropped)."""
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
    return b"".join(parts)


def _names_the_model(message: str, model: str) -> bool:
    """Whether a 404's message is about the model (not a wrong URL)."""
    return model in message or "model" in message.lower()


def _is_context_overflow(message: str) -> bool:
    """Whether a 400's message says the request does not fit the model's window."""
    lowered = message.lower()
    return "token limit" in lowered or "context length" in lowered


_decode_json = json.JSONDecoder().raw_decode
_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_chunk(data: bytes) -> dict[str, Any]:
    """One streamed chunk; a chunk that is not a JSON object is a broken stream.

    ``raw_decode`` of the UTF-8 text (what ``json.loads`` does in the end) skips its encoding sniffing and
    whitespace scans: half the cost, once per token. Bytes that are not UTF-8 and lone surrogates (``\\ud800``,
    which no terminal or file can take) become U+FFFD here, so nothing later meets them.
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


def _error_body(error: Any) -> tuple[str, str]:
    """The ``(type, message)`` of a Moonshot error body, as far as it can be read."""
    body = error if isinstance(error, dict) else getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return _short(inner.get("type") or ""), _short(inner.get("message") or "")
    return "", _short(getattr(error, "message", "") or error)


MAX_SERVER_MESSAGE = 500


def _short(value: Any) -> str:
    """A server's text for a one-line message: at most :data:`MAX_SERVER_MESSAGE` characters."""
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= MAX_SERVER_MESSAGE else text[:MAX_SERVER_MESSAGE] + "…"


def _trace_id(error: BaseException) -> str | None:
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None)
    return headers.get("x-trace-id") if headers is not None else None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _sentence(text: str) -> str:
    """``text`` ending with a full stop, so that advice can follow it."""
    text = text.strip()
    return text if not text or text[-1] in ".!?。！？" else text + "."


def _url_setting(settings: Settings) -> str:
    """The setting that chose the base URL, to name in advice."""
    return "MOONSHOT_BASE_URL" if settings.base_url_source == "the default" else settings.base_url_source


def _describe(error: BaseException, *, settings: Settings, model: str, sdk: Any) -> str:
    kind, message = _error_body(error)
    message = _sentence(message)
    status = getattr(error, "status_code", None)
    if isinstance(error, sdk.APITimeoutError):
        tries = settings.max_retries + 1
        each = f" ({tries} tries of {settings.timeout:g} s each)" if tries > 1 else ""
        return f"The request timed out after {settings.timeout * tries:g} s{each}. Send again, or check the server."
    if isinstance(error, sdk.APIConnectionError):
        cause = error.__cause__ or error.__context__
        detail = f" ({cause})" if cause else ""
        return f"Cannot reach {settings.base_url}{detail}. Check {_url_setting(settings)} and your network."
    if kind == "exceeded_current_quota_error":
        return f"Your Moonshot balance or quota is used up ({status}): {message}"
    if isinstance(error, sdk.AuthenticationError):
        return (
            f"Moonshot rejected the API key ({status} {message.rstrip('.') or 'Invalid Authentication'}): "
            f"check {settings.api_key_source}."
        )
    if isinstance(error, sdk.PermissionDeniedError):
        return f"Permission denied ({status}): {message}"
    if isinstance(error, sdk.NotFoundError):
        if _names_the_model(message, model):
            return f"The server has no model {model!r} ({status}: {message.rstrip('.')})."
        return (
            f"Not found ({status}: {message.rstrip('.')}): check that {settings.base_url} is the API's base URL "
            f"({_url_setting(settings)})."
        )
    if isinstance(error, sdk.RateLimitError):
        retries = settings.max_retries
        return f"Rate limited by Moonshot (429) after {retries} retries: {message} Wait a moment, then send again."
    if isinstance(error, sdk.BadRequestError):
        if _is_context_overflow(message):
            return (
                f"The conversation is too long for {model} ({message.rstrip('.')}). "
                "/compact drops the oldest turns; a model with a larger window may fit."
            )
        if kind == "content_filter":
            return f"Moonshot's content filter refused this request: {message}"
        return f"Moonshot refused the request (400): {message}"
    if isinstance(error, sdk.InternalServerError):
        return f"Moonshot server error ({status}) after {settings.max_retries} retries: {message} Try again later."
    if isinstance(error, sdk.APIStatusError) and status is not None and 300 <= status < 400:
        headers = getattr(getattr(error, "response", None), "headers", None)
        location = public_url(str(headers.get("location") or ""))[:200] if headers is not None else ""
        where = f" to {location}" if location else " elsewhere"
        return (
            f"The server answered {status} and would send the request{where}: kimi-repl follows no redirects "
            "(your conversation and key would go with it). If that is the API's address, set MOONSHOT_BASE_URL to it."
        )
    if isinstance(error, sdk.APIStatusError):
        return f"Moonshot API error ({status}): {message}"
    return f"Moonshot API error: {message or error}"
