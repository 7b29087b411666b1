"""The Moonshot API through the openai SDK: built lazily, streamed as typed events, errors made readable.

The SDK is imported on first use, not at start-up, so the prompt appears before it has loaded.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from kimi_repl.config import Settings
from kimi_repl.errors import UserError
from kimi_repl.request import BUDGET_FIELD, LEGACY_BUDGET_FIELD, ChatRequest

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


def _refuse_retry_of_exhausted_quota(response: Any) -> None:
    """httpx response hook: a 429 for a used-up balance will not get better by retrying."""
    if response.status_code == 429:
        response.read()
        if "exceeded_current_quota_error" in response.text:
            response.headers["x-should-retry"] = "false"


class MoonshotClient:
    """A thin wrapper of the openai SDK pointed at Moonshot."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._sdk: OpenAI | None = None
        self._models: list[dict[str, Any]] | None = None
        self._models_error: str | None = None
        self._sdk_lock = threading.Lock()
        self._models_lock = threading.Lock()
        self.budget_field = BUDGET_FIELD
        """The name the server takes the reply budget under (``max_tokens`` once it refused the other)."""

    @property
    def sdk(self) -> OpenAI:
        """The SDK client, created (and the SDK imported) on first use, or by :meth:`preload`."""
        with self._sdk_lock:
            return self._create_sdk()

    def preload(self) -> None:
        """Import the SDK and create the client now (from a background thread, while the user types)."""
        with self._sdk_lock:
            self._create_sdk()

    def _create_sdk(self) -> OpenAI:
        if self._sdk is None:
            from openai import DefaultHttpxClient, OpenAI

            s = self.settings
            http_client = DefaultHttpxClient(event_hooks={"response": [_refuse_retry_of_exhausted_quota]})
            self._sdk = OpenAI(
                api_key=s.api_key,
                base_url=s.base_url,
                timeout=s.timeout,
                max_retries=s.max_retries,
                http_client=http_client,
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
                for data in sse_data(response.iter_bytes()):
                    if data == b"[DONE]":
                        break
                    chunk = parse_chunk(data)
                    if "error" in chunk:
                        kind, message = _error_body(chunk)
                        raise ChatError(_one_line(f"Moonshot stopped the reply with an error: {message or kind}"))
                    if isinstance(chunk.get("usage"), dict):
                        usage = chunk["usage"]
                    for choice in chunk.get("choices") or ():
                        delta = choice.get("delta") or {}
                        reasoning = delta.get("reasoning_content")
                        if reasoning and isinstance(reasoning, str):
                            yield ReasoningDelta(reasoning)
                        content = delta.get("content")
                        if content and isinstance(content, str):
                            yield ContentDelta(content)
                        for call in delta.get("tool_calls") or ():
                            if isinstance(call, dict):
                                yield _tool_call_delta(call)
                        if choice.get("finish_reason"):
                            finish = str(choice["finish_reason"])
                        if isinstance(choice.get("usage"), dict):
                            usage = choice["usage"]
        except openai.APIError as error:
            raise self.error(error, model=request.model) from None
        except connection_lost as error:
            cause = error.__cause__ or error
            raise ChatError(f"The connection broke while the reply was streaming ({cause}).") from None
        yield Finished(finish, usage)

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

        Args:
            retry_failed: ask again after an earlier failure (False for Tab completion, which must not
                wait on a server that is down).

        Raises:
            ChatError: the request failed (now, or earlier when ``retry_failed`` is False).
        """
        with self._models_lock:
            if self._models is None:
                import openai

                if self._models_error is not None and not retry_failed:
                    raise ChatError(self._models_error)
                try:
                    page = self.sdk.models.list()
                except openai.APIError as error:
                    self._models_error = self.describe(error)
                    raise ChatError(self._models_error) from None
                self._models = [model.model_dump() for model in page.data if isinstance(model.id, str)]
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
            data = self.sdk.with_options(max_retries=0, timeout=15).post(
                "/tokenizers/estimate-token-count", body={"model": model, "messages": messages}, cast_to=object
            )
        except openai.APIError:
            return None
        inner = data.get("data") if isinstance(data, dict) else None
        total = inner.get("total_tokens") if isinstance(inner, dict) else None
        return total if isinstance(total, int) and not isinstance(total, bool) and total >= 0 else None

    def balance(self) -> dict[str, float]:
        """The account's balance (``available_balance``, ``voucher_balance``, ``cash_balance``).

        Raises:
            ChatError: the request failed or the answer was not a balance.
        """
        import openai

        try:
            data = self.sdk.get("/users/me/balance", cast_to=object)
        except openai.APIError as error:
            raise self.error(error) from None
        inner = data.get("data") if isinstance(data, dict) else None
        if not isinstance(inner, dict):
            raise ChatError("The server's answer to /users/me/balance was not a balance.")
        return {k: float(v) for k, v in inner.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}

    def extract_file(self, path: Path, data: bytes) -> tuple[str, str]:
        """Upload a file for Moonshot to extract its text (purpose ``file-extract``), then delete the upload.

        Returns:
            The file id, and the extracted content (a JSON document, as text).

        Raises:
            ChatError: the upload or the extraction failed.
        """
        import openai

        try:
            uploaded = self.sdk.files.create(file=(path.name, data), purpose="file-extract")  # type: ignore[arg-type]
            content = self.sdk.files.content(uploaded.id).text
        except openai.APIError as error:
            raise self.error(error) from None
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
            text += f" [trace id {trace}]"
        return _one_line(text).replace(self.settings.api_key, "***")


def sse_data(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The ``data`` of each server-sent event in a byte stream (several ``data:`` lines of one event joined by
    newlines), by the spec: lines end with CR LF, LF or CR; comments and other fields are skipped.

    Bytes, split by ``bytes.split``: this runs once per streamed token, and decoding and splitting every
    line in Python (as a text reader does) costs more than everything else kimi-repl does with the token.
    """
    data: list[bytes] = []
    rest = b""
    for chunk in chunks:
        text = rest + chunk
        held = b""
        if b"\r" in text:
            if text.endswith(b"\r"):  # perhaps the first half of CR LF: decide when the next chunk comes
                text, held = text[:-1], b"\r"
            text = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = text.split(b"\n")
        rest = lines.pop() + held
        for line in lines:
            if not line:
                if data:
                    yield b"\n".join(data)
                    data = []
            elif line.startswith(b"data:"):
                data.append(line[6:] if line[5:6] == b" " else line[5:])
    last = rest.rstrip(b"\r")
    if last.startswith(b"data:"):
        data.append(last[6:] if last[5:6] == b" " else last[5:])
    if data:
        yield b"\n".join(data)


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


def _names_the_model(message: str, model: str) -> bool:
    """Whether a 404's message is about the model (not a wrong URL)."""
    return model in message or "model" in message.lower()


def _is_context_overflow(message: str) -> bool:
    """Whether a 400's message says the request does not fit the model's window."""
    lowered = message.lower()
    return "token limit" in lowered or "context length" in lowered


_decode_json = json.JSONDecoder().raw_decode


def parse_chunk(data: bytes) -> dict[str, Any]:
    """One streamed chunk; a chunk that is not a JSON object is a broken stream.

    ``raw_decode`` of the UTF-8 text (what ``json.loads`` does in the end) skips its encoding sniffing and
    whitespace scans: half the cost, once per token.
    """
    try:
        text = data.decode().strip()
        chunk, end = _decode_json(text)
        if end != len(text):
            raise ValueError("extra data")
    except ValueError:  # UnicodeDecodeError too
        raise ChatError(f"The server sent something that is not JSON in the stream: {data[:80]!r}") from None
    if not isinstance(chunk, dict):
        raise ChatError(f"The server sent an unexpected chunk in the stream: {data[:80]!r}")
    return chunk


def _error_body(error: Any) -> tuple[str, str]:
    """The ``(type, message)`` of a Moonshot error body, as far as it can be read."""
    body = error if isinstance(error, dict) else getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return str(inner.get("type") or ""), str(inner.get("message") or "")
    return "", str(getattr(error, "message", "") or error)


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


def _describe(error: BaseException, *, settings: Settings, model: str, sdk: Any) -> str:
    kind, message = _error_body(error)
    message = _sentence(message)
    status = getattr(error, "status_code", None)
    if isinstance(error, sdk.APITimeoutError):
        return f"The request timed out after {settings.timeout:g} s. Send again, or check the server."
    if isinstance(error, sdk.APIConnectionError):
        cause = error.__cause__ or error.__context__
        detail = f" ({cause})" if cause else ""
        return f"Cannot reach {settings.base_url}{detail}. Check MOONSHOT_BASE_URL and your network."
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
        return f"Not found ({status}: {message.rstrip('.')}): check that {settings.base_url} is the API's base URL."
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
    if isinstance(error, sdk.APIStatusError):
        return f"Moonshot API error ({status}): {message}"
    return f"Moonshot API error: {message or error}"
