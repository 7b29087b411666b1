"""Waiting out a rate limit: how long a 429 asks to wait, read from what Moonshot sends.

Moonshot's 429 ``rate_limit_reached_error`` says "please try again after N seconds" and may carry
``Retry-After`` (seconds or an HTTP date), ``retry-after-ms`` and ``X-RateLimit-Limit``, ``-Remaining`` and
``-Reset``; ``engine_overloaded_error`` says nothing of when. The client waits (the shell shows a countdown,
which Ctrl-C stops) and sends again, as many times as ``max_retries`` allows; the SDK does not retry a chat
request's 429 itself, so that every wait can be seen.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import NamedTuple

MAX_WAIT_SECONDS = 120.0
"""The longest wait taken: a server asking for more is told to the user instead (try again later)."""

BACKOFF_SECONDS = 1.0
"""The first wait when the server does not say (doubled at each try, up to :data:`MAX_BACKOFF_SECONDS`)."""
MAX_BACKOFF_SECONDS = 16.0

_AFTER_SECONDS = re.compile(r"try again (?:after|in) (\d{1,6}(?:\.\d+)?) ?s", re.IGNORECASE)
_DURATION = re.compile(r"(?:(\d{1,6}(?:\.\d+)?)(ms|s|m|h))", re.IGNORECASE)


class RateLimitWait(NamedTuple):
    """One wait before sending again.

    Attributes:
        seconds: how long.
        attempt: which retry this is (1 for the first).
        retries: how many are allowed in all (``max_retries``).
        limit: the request rate the server named (``X-RateLimit-Limit``), "" when it did not.
        overloaded: the engine is busy, not the account's rate used up.
    """

    seconds: float
    attempt: int
    retries: int
    limit: str = ""
    overloaded: bool = False


Pause = Callable[[RateLimitWait], None]
"""What waits out a rate limit (the shell's view shows a countdown); Ctrl-C may stop it."""


def sleep_through(wait: RateLimitWait) -> None:
    """The pause without a screen: wait, quietly."""
    time.sleep(wait.seconds)


def asked_wait(headers: Mapping[str, str], message: str, *, now: float | None = None) -> float | None:
    """Seconds the server asks to wait before sending again, or None when it does not say.

    ``retry-after-ms`` first, then ``Retry-After`` (seconds or an HTTP date), then ``X-RateLimit-Reset``
    (seconds, a time since the epoch, or a duration such as ``1m30s``), then the message's "try again after
    N seconds". Anything negative or unreadable is ignored.
    """
    now = time.time() if now is None else now
    lowered = {str(name).lower(): str(value).strip()[:100] for name, value in headers.items()}
    readers: list[tuple[str, Callable[[str], float | None]]] = [
        ("retry-after-ms", lambda text: _number(text, scale=0.001)),
        ("retry-after", lambda text: _number(text) if _number(text) is not None else _date(text, now)),
        ("x-ratelimit-reset", lambda text: _reset(text, now)),
    ]
    for name, read in readers:
        if name in lowered:
            seconds = read(lowered[name])
            if seconds is not None:
                return seconds
    found = _AFTER_SECONDS.search(message[:1000])
    return float(found.group(1)) if found else None


def rate_limit_wait(
    kind: str, message: str, headers: Mapping[str, str], attempt: int, retries: int
) -> RateLimitWait | None:
    """The wait before retry ``attempt`` after a 429 (its error ``kind`` and ``message``), or None when it is not
    worth one: the balance is used up, the ``retries`` are spent, or the server asks for longer than
    :data:`MAX_WAIT_SECONDS`."""
    if kind == "exceeded_current_quota_error" or attempt > retries:
        return None
    seconds = asked_wait(headers, message)
    if seconds is None:
        seconds = backoff(attempt)
    if seconds > MAX_WAIT_SECONDS:
        return None
    limit = next((str(value)[:12] for name, value in headers.items() if name.lower() == "x-ratelimit-limit"), "")
    return RateLimitWait(
        seconds,
        attempt,
        retries,
        limit if limit.isdecimal() and limit.isascii() else "",
        kind == "engine_overloaded_error",
    )


def backoff(attempt: int) -> float:
    """The wait before retry ``attempt`` (1, 2, ...) when the server does not say: 1 s, 2 s, 4 s..."""
    return min(MAX_BACKOFF_SECONDS, BACKOFF_SECONDS * float(2 ** (attempt - 1)))


def _number(text: str, *, scale: float = 1.0) -> float | None:
    try:
        value = float(text) * scale
    except ValueError:
        return None
    return value if 0 <= value < 1e12 else None


def _date(text: str, now: float) -> float | None:
    from email.utils import parsedate_to_datetime  # here: email.utils costs start-up a few milliseconds

    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def _reset(text: str, now: float) -> float | None:
    number = _number(text)
    if number is not None:
        return max(0.0, number - now) if number > 1e9 else number  # a time since the epoch, or seconds
    parts = _DURATION.findall(text)
    if not parts or "".join(value + unit for value, unit in parts).lower() != text.replace(" ", "").lower():
        return None
    unit_seconds = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(value) * unit_seconds[unit.lower()] for value, unit in parts)
