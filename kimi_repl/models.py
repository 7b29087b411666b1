"""What kimi-repl knows about Moonshot's models without asking the server.

``GET /models`` is the truth for which models exist; this table is the fallback for completion, context
windows and the temperature rules (see ``shared/moonshot-api.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MODEL = "kimi-k2-turbo-preview"

TEMPERATURE_MIN = 0.0
TEMPERATURE_MAX = 1.0


@dataclass(frozen=True)
class ModelInfo:
    """Facts about one model.

    Attributes:
        context_window: tokens the model accepts, prompt and reply together.
        fixed_temperature: True when the server rejects every temperature but its own (reasoning models).
        thinking: True when the model streams ``reasoning_content`` before its answer.
    """

    context_window: int
    fixed_temperature: bool = False
    thinking: bool = False


KNOWN_MODELS: dict[str, ModelInfo] = {
    "kimi-k2-turbo-preview": ModelInfo(262_144),
    "kimi-k2-0905-preview": ModelInfo(262_144),
    "kimi-k2-0711-preview": ModelInfo(131_072),
    "kimi-k2-thinking": ModelInfo(262_144, fixed_temperature=True, thinking=True),
    "kimi-k2-thinking-turbo": ModelInfo(262_144, fixed_temperature=True, thinking=True),
    "kimi-k2.5": ModelInfo(262_144, fixed_temperature=True, thinking=True),
    "kimi-k2.6": ModelInfo(262_144, fixed_temperature=True, thinking=True),
    "kimi-latest": ModelInfo(131_072),
    "moonshot-v1-8k": ModelInfo(8_192),
    "moonshot-v1-32k": ModelInfo(32_768),
    "moonshot-v1-128k": ModelInfo(131_072),
    "moonshot-v1-auto": ModelInfo(131_072),
    "moonshot-v1-8k-vision-preview": ModelInfo(8_192),
    "moonshot-v1-32k-vision-preview": ModelInfo(32_768),
    "moonshot-v1-128k-vision-preview": ModelInfo(131_072),
}


def has_fixed_temperature(model: str) -> bool:
    """Whether ``model`` rejects any temperature but its own (so none must be sent)."""
    info = KNOWN_MODELS.get(model)
    if info is not None:
        return info.fixed_temperature
    # Unknown names of the reasoning generations follow their family's rule.
    return "thinking" in model or model.startswith(("kimi-k2.5", "kimi-k2.6"))


def recommended_temperature(model: str) -> float:
    """Moonshot's recommended temperature for ``model`` (0.3 for moonshot-v1, 0.6 for Kimi K2)."""
    return 0.3 if model.startswith("moonshot-v1") else 0.6


def parse_temperature(text: str) -> float:
    """Parse a temperature typed by the user.

    Raises:
        ValueError: with a message fit to show, when ``text`` is not a number in Moonshot's range.
    """
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"Temperature must be a number from 0 to 1, not {text!r}") from None
    if not TEMPERATURE_MIN <= value <= TEMPERATURE_MAX:  # also refuses nan
        raise ValueError(f"Temperature must be between 0 and 1 (Moonshot's range), not {text}")
    return value
