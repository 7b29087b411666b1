"""The models the fake serves: today's lineup, the older one, the discontinued ids, error bodies and the token
estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TEST_KEY = "sk-fake-test-key"


@dataclass(frozen=True)
class FakeModel:
    """How the fake serves one model.

    Attributes:
        thinking: "never", "switchable" (on unless ``thinking: {"type": "disabled"}``) or "always".
        fixed: the temperatures the model insists on, (thinking off, thinking on); None if it takes any.
    """

    window: int
    thinking: str = "never"
    images: bool = False
    video: bool = False
    fixed: tuple[float, float] | None = None


CURRENT_MODELS = {
    "kimi-k2.6": FakeModel(262_144, "switchable", images=True, video=True, fixed=(0.6, 1.0)),
    "kimi-k2.5": FakeModel(262_144, "switchable", images=True, fixed=(0.6, 1.0)),
    "kimi-k2.7-code": FakeModel(262_144, "always", images=True, fixed=(1.0, 1.0)),
    "kimi-k2.7-code-highspeed": FakeModel(262_144, "always", images=True, fixed=(1.0, 1.0)),
    "kimi-k3": FakeModel(1_048_576, "always", fixed=(1.0, 1.0)),
    "moonshot-v1-8k": FakeModel(8_192),
    "moonshot-v1-32k": FakeModel(32_768),
    "moonshot-v1-128k": FakeModel(131_072),
    "moonshot-v1-auto": FakeModel(131_072),
    "moonshot-v1-8k-vision-preview": FakeModel(8_192, images=True),
    "moonshot-v1-32k-vision-preview": FakeModel(32_768, images=True),
    "moonshot-v1-128k-vision-preview": FakeModel(131_072, images=True),
}
"""Moonshot's lineup in late 2026 (``docs/moonshot-api.md``)."""


DISCONTINUED = (
    "kimi-k2-0711-preview",
    "kimi-k2-0905-preview",
    "kimi-k2-turbo-preview",
    "kimi-k2-thinking",
    "kimi-k2-thinking-turbo",
    "kimi-latest",
)


LEGACY_MODELS = {
    "moonshot-v1-8k": FakeModel(8_192),
    "moonshot-v1-32k": FakeModel(32_768),
    "moonshot-v1-128k": FakeModel(131_072),
    "moonshot-v1-auto": FakeModel(131_072),
    "kimi-latest": FakeModel(131_072, images=True),
    "kimi-k2-0711-preview": FakeModel(131_072),
    "kimi-k2-0905-preview": FakeModel(262_144),
    "kimi-k2-turbo-preview": FakeModel(262_144),
    "kimi-k2-thinking": FakeModel(262_144, "always", fixed=(1.0, 1.0)),
    "kimi-k2-thinking-turbo": FakeModel(262_144, "always", fixed=(1.0, 1.0)),
}
"""The older lineup, served the older way: ``/models`` lists ids only, no budget by default, no
``max_completion_tokens`` (like the OpenAI-compatible servers that predate it)."""


DEFAULT_BUDGET = 1024
"""What Moonshot uses when a request names no budget ("a reasonable integer such as 1024")."""


ERRORS = {
    400: ("invalid_request_error", "Invalid request: bad parameters"),
    401: ("invalid_authentication_error", "Invalid Authentication"),
    403: ("permission_denied_error", "The API you are accessing is not open"),
    404: ("resource_not_found_error", "Not found the model or Permission denied"),
    429: (
        "rate_limit_reached_error",
        "Your account reached max request: 3, please try again after 1 seconds",
    ),
    500: ("server_error", "Internal server error"),
    503: ("engine_overloaded_error", "The engine is currently overloaded, please try again later"),
}


IMAGE_TOKENS = 1_000
"""What the fake counts for a picture, whatever its size (real models count by resolution, not bytes)."""


def estimate_tokens(messages: list[dict[str, Any]]) -> int:
    """A rough token count: CJK characters count one each, other text one per four characters, a picture 1,000."""
    total = 0
    for message in messages:
        content = message.get("content") or ""
        parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
        for part in parts:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "image_url":
                total += IMAGE_TOKENS
                continue
            text = str(part.get("text") or "")
            cjk = sum(1 for ch in text if ord(ch) > 0x2E80)
            total += cjk + (len(text) - cjk + 3) // 4
        total += 4
    return total
