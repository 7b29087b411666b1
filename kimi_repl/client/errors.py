"""The ways a request to Moonshot fails, and the one line each SDK error becomes (what went wrong, what to do)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from kimi_repl.client.ratelimit import MAX_WAIT_SECONDS, asked_wait
from kimi_repl.errors import UserError
from kimi_repl.values import public_url

if TYPE_CHECKING:
    from kimi_repl.config import Settings


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


TOKEN_LIMIT = re.compile(r"token limit\D{0,20}(\d+)", re.IGNORECASE)
"""The window a too-long refusal names (``... token limit of 131072 ...``)."""


def names_the_model(message: str, model: str) -> bool:
    """Whether a 404's message is about the model (not a wrong URL)."""
    return model in message or "model" in message.lower()


def is_context_overflow(message: str) -> bool:
    """Whether a 400's message says the request does not fit the model's window."""
    lowered = message.lower()
    return "token limit" in lowered or "context length" in lowered


def error_body(error: Any) -> tuple[str, str]:
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


def trace_id(error: BaseException) -> str | None:
    """The ``x-trace-id`` the server answered with, for a report to Moonshot."""
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None)
    return headers.get("x-trace-id") if headers is not None else None


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (line breaks too) made one space."""
    return " ".join(text.split())


def _sentence(text: str) -> str:
    """``text`` ending with a full stop, so that advice can follow it."""
    text = text.strip()
    return text if not text or text[-1] in ".!?。！？" else text + "."


def _url_setting(settings: Settings) -> str:
    """The setting that chose the base URL, to name in advice."""
    return "MOONSHOT_BASE_URL" if settings.base_url_source == "the default" else settings.base_url_source


def describe_error(error: BaseException, *, settings: Settings, model: str, sdk: Any) -> str:
    """The sentence for an SDK ``error`` (``sdk`` is the ``openai`` module, imported by the caller)."""
    kind, message = error_body(error)
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
        if names_the_model(message, model):
            return f"The server has no model {model!r} ({status}: {message.rstrip('.')})."
        return (
            f"Not found ({status}: {message.rstrip('.')}): check that {settings.base_url} is the API's base URL "
            f"({_url_setting(settings)})."
        )
    if isinstance(error, sdk.RateLimitError):
        headers = getattr(getattr(error, "response", None), "headers", None) or {}
        asked = asked_wait(headers, message)
        if asked is not None and asked > MAX_WAIT_SECONDS:
            wait = f"{asked // 60:.0f} min" + (f" {asked % 60:.0f} s" if round(asked % 60) else "")
            return f"Rate limited by Moonshot (429): {message} It asks to wait {wait}; send again then."
        retries = settings.max_retries
        return f"Rate limited by Moonshot (429) after {retries} retries: {message} Wait a moment, then send again."
    if isinstance(error, sdk.BadRequestError):
        if is_context_overflow(message):
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
