"""How long a 429 asks to wait, from every way Moonshot (or another server) may say it."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from kimi_repl.client.ratelimit import MAX_WAIT_SECONDS, RateLimitWait, asked_wait, backoff, rate_limit_wait

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("headers", "message", "seconds"),
    [
        ({"Retry-After": "7"}, "", 7.0),
        ({"retry-after-ms": "250"}, "", 0.25),
        ({"retry-after-ms": "250", "Retry-After": "9"}, "", 0.25),
        ({"Retry-After": formatdate(NOW + 30, usegmt=True)}, "", 30.0),
        ({"X-RateLimit-Reset": "12"}, "", 12.0),
        ({"X-RateLimit-Reset": str(NOW + 40)}, "", 40.0),
        ({"X-RateLimit-Reset": "1m30s"}, "", 90.0),
        ({"X-RateLimit-Reset": "250ms"}, "", 0.25),
        ({}, "Your account reached max request: 3, please try again after 20 seconds", 20.0),
        ({"Retry-After": "soon"}, "please try again after 3 seconds", 3.0),
        ({"Retry-After": "-5", "X-RateLimit-Reset": "1x"}, "", None),
        ({}, "The engine is currently overloaded, please try again later", None),
    ],
)
def test_the_wait_a_server_asks_for(headers: dict[str, str], message: str, seconds: float | None) -> None:
    found = asked_wait(headers, message, now=NOW)
    assert found == (pytest.approx(seconds, abs=1) if seconds is not None else None)


def test_a_wait_is_taken_only_when_worth_it() -> None:
    headers = {"Retry-After": "5", "X-RateLimit-Limit": "3"}
    assert rate_limit_wait("rate_limit_reached_error", "", headers, 1, 2) == RateLimitWait(5.0, 1, 2, "3")
    assert rate_limit_wait("rate_limit_reached_error", "", headers, 3, 2) is None, "the retries are spent"
    assert rate_limit_wait("exceeded_current_quota_error", "", headers, 1, 2) is None, "money, not time"
    too_long = {"Retry-After": str(int(MAX_WAIT_SECONDS) + 1)}
    assert rate_limit_wait("rate_limit_reached_error", "", too_long, 1, 2) is None, "told, not waited"
    busy = rate_limit_wait("engine_overloaded_error", "", {}, 2, 3)
    assert busy == RateLimitWait(backoff(2), 2, 3, "", overloaded=True) and backoff(1) < backoff(2) <= 16
    assert rate_limit_wait("x", "", {"X-RateLimit-Limit": "\x1b[2J"}, 1, 1) == RateLimitWait(backoff(1), 1, 1, "")
