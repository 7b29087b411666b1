"""Every value a person types or a file holds, parsed and checked in one place.

Each parser raises :class:`ValueError` with a message fit to show as one line; callers wrap it in their own
:class:`~kimi_repl.errors.UserError` subclass (a bad flag, a bad command argument, a damaged file).
"""

from __future__ import annotations

import math
import unicodedata

TEMPERATURE_MIN = 0.0
TEMPERATURE_MAX = 1.0
MAX_MODEL_NAME = 128
MAX_REPLY_TOKENS = 1_048_576
"""No model has a larger window; a budget above it is a typo."""

# Unicode categories that never belong in an identifier: controls, format characters (zero-width and bidi
# controls among them), surrogates, private use, unassigned, and every kind of space or line separator.
_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"}


def parse_temperature(text: str) -> float:
    """A temperature typed by the user, within Moonshot's range."""
    value = _finite(text, "Temperature", f"a number from {TEMPERATURE_MIN:g} to {TEMPERATURE_MAX:g}")
    if not TEMPERATURE_MIN <= value <= TEMPERATURE_MAX:
        raise ValueError(f"Temperature must be between 0 and 1 (Moonshot's range), not {_echo(text, quote=False)}")
    return value + 0.0  # -0 is 0


def parse_reply_tokens(text: str, what: str = "The reply budget") -> int:
    """A token count for the reply budget: a whole number from 1 to 1,048,576."""
    value = _finite(text, what, "a whole number of tokens")
    if value != int(value) or not 1 <= value <= MAX_REPLY_TOKENS:
        raise ValueError(
            f"{what} must be a whole number of tokens from 1 to {MAX_REPLY_TOKENS:,}, not {_echo(text, quote=False)}"
        )
    return int(value)


def parse_on_off(text: str, what: str) -> bool:
    """``on`` / ``off`` (and the usual synonyms) as a bool."""
    word = text.strip().lower()
    if word in ("on", "true", "yes", "1", "enabled"):
        return True
    if word in ("off", "false", "no", "0", "disabled"):
        return False
    raise ValueError(f"{what} takes on or off, not {_echo(text)}")


MAX_TIMEOUT = 86_400.0
MAX_RETRIES = 10


def parse_timeout(text: str, what: str = "The timeout") -> float:
    """Seconds to wait for the server: a finite number above 0 (at most a day)."""
    value = _finite(text, what, "a number of seconds")
    if not 0 < value <= MAX_TIMEOUT:
        raise ValueError(
            f"{what} must be more than 0 and at most {MAX_TIMEOUT:g} seconds, not {_echo(text, quote=False)}"
        )
    return value


def parse_retries(text: str, what: str = "The number of retries") -> int:
    """How often a failed request is tried again: a whole number from 0 to 10."""
    value = _finite(text, what, "a whole number")
    if value != int(value) or not 0 <= value <= MAX_RETRIES:
        raise ValueError(f"{what} must be a whole number from 0 to {MAX_RETRIES}, not {_echo(text, quote=False)}")
    return int(value)


def parse_base_url(text: str, what: str = "The base URL") -> str:
    """An http(s) URL with a host (and a valid port, if any), without a trailing slash."""
    from urllib.parse import urlsplit

    url = text.strip()
    problem = f"{what} must be an http:// or https:// URL such as https://api.moonshot.cn/v1, not {_echo(text)}"
    if not url or any(ch.isspace() or not ch.isprintable() for ch in url):
        raise ValueError(problem)
    if not url.isascii():  # a name with other letters goes in its ASCII (punycode) form, as the wire needs it
        raise ValueError(
            f"{what} must be written in ASCII (a name like ｅｘａｍｐｌｅ in its xn-- form), not {_echo(text)}"
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (reading it checks it)
    except ValueError:
        raise ValueError(problem) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(problem)
    return url.rstrip("/")


def public_url(url: str) -> str:
    """``url`` as it may be shown: without a ``user:password@`` part."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an unreadable URL)"
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def check_api_key(key: str, what: str) -> str:
    """``key`` if it can be sent in a header (printable ASCII, no spaces); the message never shows it."""
    if not key.isascii() or not key.isprintable() or any(ch.isspace() for ch in key):
        raise ValueError(f"{what} holds characters an API key cannot have (spaces, control or non-ASCII characters)")
    return key


def check_model_name(name: str) -> str:
    """``name`` if it can be a model id: printable, no spaces or invisible characters, not too long."""
    if not name:
        raise ValueError("A model name cannot be empty")
    if len(name) > MAX_MODEL_NAME:
        raise ValueError(f"A model name has at most {MAX_MODEL_NAME} characters, not {len(name)}")
    for ch in name:
        if unicodedata.category(ch) in _INVISIBLE:
            what = "a space" if ch.isspace() else f"an invisible or control character (U+{ord(ch):04X})"
            raise ValueError(f"A model name cannot contain {what}: {_echo(name)}")
    return name


MAX_ECHO = 60


def _echo(text: object, *, quote: bool = True) -> str:
    """What the user gave, for a message: cut if it is long, quoted unless told not to."""
    shown = text if isinstance(text, str) else str(text)
    shown = shown if len(shown) <= MAX_ECHO else shown[:MAX_ECHO] + "…"
    return repr(shown) if quote else shown


def _finite(text: str, what: str, expected: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be {expected}, not {_echo(text)}") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} must be {expected}, not {_echo(text, quote=False)}")
    return value
