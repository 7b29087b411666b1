"""The Moonshot API through the openai SDK: built lazily, streamed as typed events, errors made readable.

The SDK is imported on first use, not at start-up, so the prompt appears before it has loaded.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

from kimi_repl.client.errors import (
    TOKEN_LIMIT,
    ChatError,
    ContextTooLong,
    ModelNotFound,
    describe_error,
    error_body,
    is_context_overflow,
    names_the_model,
    one_line,
    trace_id,
)
from kimi_repl.client.files import ServerFiles
from kimi_repl.client.http import body_chunks, http_client, listed_entries, read_bounded, transport_errors
from kimi_repl.client.ratelimit import Pause, rate_limit_wait, sleep_through
from kimi_repl.client.sse import (
    MAX_EVENT_BYTES,
    ChunkReader,
    StreamEvent,
    StreamIdle,
    completion_events,
    parse_chunk,
    sse_data,
)
from kimi_repl.config import Settings
from kimi_repl.interrupts import allowed, held, taken
from kimi_repl.redaction import Secret
from kimi_repl.request import BUDGET_FIELD, CACHE_KEY_FIELD, LEGACY_BUDGET_FIELD, ChatRequest
from kimi_repl.values import public_url

if TYPE_CHECKING:
    from openai import OpenAI

MAX_MODELS_BYTES = 4 * 1024 * 1024
"""The largest ``GET /models`` answer read (Moonshot's is a few KB)."""
MODELS_TIMEOUT = 15.0
"""Seconds to wait for ``GET /models`` (a convenience: the chat goes on without it), tried once."""
MODELS_RETRY_SECONDS = 30.0
"""After a failed ``GET /models``, callers that must not wait (Tab completion, notices) ask again after this."""
MAX_MODELS = 1000
"""The most models kept from the list (Moonshot lists a dozen)."""
_MODEL_FIELDS = ("id", "context_length", "supports_reasoning", "supports_image_in", "supports_video_in")


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
        self.key_refused: str | None = None
        """Why the server refused the API key when the list of models was asked (401), if it did."""
        self._models_failed_at = 0.0
        self._sdk_lock = threading.Lock()
        self.models_lock = threading.Lock()  # held while GET /models is under way
        self.budget_field = BUDGET_FIELD
        """The name the server takes the reply budget under (``max_tokens`` once it refused the other)."""
        self.cache_keys = True  # prompt_cache_key is sent until a server refuses it
        self.files = ServerFiles(self)
        """The Files API: documents extracted, files listed and deleted."""

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
            from openai import OpenAI

            s = self.settings
            self._sdk = OpenAI(
                api_key=s.api_key,
                base_url=s.base_url,
                timeout=s.timeout,
                max_retries=s.max_retries,
                http_client=http_client(),
                default_headers={"Accept-Encoding": "identity"},  # a stream needs no compression; a bomb cannot hide
            )
        return self._sdk

    def stream_chat(self, request: ChatRequest, *, pause: Pause = sleep_through) -> Generator[StreamEvent, None, None]:
        """Send ``request`` and yield what arrives.

        The SDK sends the request (authentication, retries with backoff, timeouts, HTTP errors; ``pause`` waits
        out a rate limit, showing a countdown); the server-sent events are read here
        (:mod:`kimi_repl.client.sse`), as plain JSON: Moonshot's extras (``reasoning_content``, usage inside
        ``choices[0]``) are not in the SDK's typed chunks anyway, and skipping a pydantic model per chunk keeps
        reading a long reply cheap. The last event is a :class:`Finished`; its ``reason`` is None when the
        stream ended early.

        Raises:
            ChatError: the request failed, or the connection broke while reading.
        """
        import openai

        reader = ChunkReader()
        connection_lost: tuple[type[BaseException], ...] = (openai.APIConnectionError, *transport_errors())
        try:
            with contextlib.ExitStack() as stack:
                response = self._open(stack, request, pause)
                kind = str(response.headers.get("content-type") or "").lower()
                if kind and "event-stream" not in kind:
                    yield from self._whole_reply(response, kind)
                    return
                idle = self.settings.timeout
                progress_at = time.monotonic()  # when the reply last grew (events that bring nothing do not count)
                for data in sse_data(body_chunks(response.http_response), idle_limit=idle):
                    if data == b"[DONE]":
                        break
                    now = time.monotonic()
                    if now - progress_at > idle:
                        raise StreamIdle(f"The server sent no reply for {idle:g} s, only empty events.")
                    chunk = parse_chunk(data)
                    if "error" in chunk:
                        error_type, message = error_body(chunk)
                        stopped = f"Moonshot stopped the reply with an error: {message or error_type}"
                        raise ChatError(self.clean(stopped))
                    yield from reader.events(chunk)
                    progress_at = now if reader.progressed else progress_at
        except openai.APIError as error:
            raise self.error(error, model=request.model) from None
        except connection_lost as error:
            cause = error.__cause__ or error
            raise ChatError(self.clean(f"The connection broke while the reply was streaming ({cause}).")) from None
        yield reader.finished()

    def _whole_reply(self, response: Any, kind: str) -> Iterator[StreamEvent]:
        """The events of an answer that is not a stream: a whole completion (a server that ignores ``stream``),
        an error object, or a page that is not the API at all.

        Raises:
            ChatError: it is not a completion.
        """
        body = read_bounded(body_chunks(response.http_response), MAX_EVENT_BYTES * 8)
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
            error_type, message = error_body(completion)
            raise ChatError(self.clean(f"Moonshot refused the request: {message or error_type}"))
        yield from completion_events(completion)

    def _open(self, stack: contextlib.ExitStack, request: ChatRequest, pause: Pause = sleep_through) -> Any:
        """Send the request and return the streaming response.

        A server that refuses ``max_completion_tokens`` (older OpenAI-compatible ones) is asked again with
        ``max_tokens``, and keeps getting that for the rest of the session; one that refuses
        ``prompt_cache_key`` is asked again without it, likewise. A rate limit (429) is waited out with
        ``pause``, up to ``max_retries`` times (:func:`~kimi_repl.client.ratelimit.rate_limit_wait`).
        """
        import openai

        create = self.sdk.chat.completions.with_streaming_response.create

        def send() -> Any:
            # The whole body goes as extra_body: the SDK would otherwise check every message of the
            # conversation against its types on each request (a cost that grows with the session), only to
            # send the same JSON.
            body = request.body(self.budget_field)
            if not self.cache_keys:
                body.pop(CACHE_KEY_FIELD, None)
            return stack.enter_context(create(model=request.model, messages=[], stream=True, extra_body=body))

        waits = 0
        while True:  # each field a server refuses is changed once, for the rest of the session: at most twice
            try:
                return send()
            except openai.RateLimitError as error:
                waits += 1
                wait = rate_limit_wait(*error_body(error), error.response.headers, waits, self.settings.max_retries)
                if wait is None:
                    raise
                pause(wait)
            except openai.BadRequestError as error:
                refused = error_body(error)[1]
                if self.cache_keys and CACHE_KEY_FIELD in refused:
                    self.cache_keys = False
                elif self.budget_field != LEGACY_BUDGET_FIELD and self.budget_field in refused:
                    self.budget_field = LEGACY_BUDGET_FIELD
                else:
                    raise

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
        with taken(self.models_lock):  # Ctrl-C stops a wait for another thread's fetch, or the fetch itself
            if self._models is None:
                import openai

                recent = time.monotonic() - self._models_failed_at < MODELS_RETRY_SECONDS
                if self._models_error is not None and not retry_failed and recent:
                    raise ChatError(self._models_error)
                try:
                    quick = self.sdk.with_options(max_retries=0, timeout=min(self.settings.timeout, MODELS_TIMEOUT))
                    with allowed(), quick.models.with_streaming_response.list() as response:
                        body = read_bounded(body_chunks(response.http_response), MAX_MODELS_BYTES)
                    self._models = _model_entries(body)
                except openai.APIError as error:
                    self._models_error, self._models_failed_at = self.describe(error), time.monotonic()
                    if isinstance(error, openai.AuthenticationError):
                        self.key_refused = self._models_error
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

    def error(self, error: BaseException, *, model: str | None = None) -> ChatError:
        """The :class:`ChatError` to raise for an SDK error."""
        import openai

        text = self.describe(error, model=model)
        _, message = error_body(error)
        if isinstance(error, openai.BadRequestError) and is_context_overflow(message):
            found = TOKEN_LIMIT.search(message)
            return ContextTooLong(text, int(found.group(1)) if found else None)
        failure = (
            ModelNotFound(text, model)
            if isinstance(error, openai.NotFoundError) and model and names_the_model(message, model)
            else ChatError(text)
        )
        failure.status = getattr(error, "status_code", None)
        return failure

    def describe(self, error: BaseException, *, model: str | None = None) -> str:
        """One line that says what went wrong and what to do, never containing the API key."""
        import openai

        text = describe_error(error, settings=self.settings, model=model or self.settings.model or "", sdk=openai)
        trace = trace_id(error)
        if trace:
            text += f" [trace id {trace[:64]}]"
        return self.clean(text)

    def clean(self, text: str) -> str:
        """``text`` fit to show: one line, without the API key or the base URL's ``user:password``."""
        base = self.settings.base_url
        shown = public_url(base)
        if shown != base:
            text = text.replace(base, shown)
        return self.secret.redact(one_line(text))


def _model_entries(body: bytes | None) -> list[dict[str, Any]]:
    """The usable entries of a ``GET /models`` answer: ids that can be model names, at most :data:`MAX_MODELS`,
    each with only the fields kimi-repl reads (and only scalar values).

    Raises:
        ChatError: the answer is too big or not a list of models.
    """
    from kimi_repl.values import check_model_name

    entries = listed_entries(body, path="/models", what="models", limit=MAX_MODELS_BYTES)
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
