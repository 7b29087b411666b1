"""The model profile: everything kimi-repl needs to know about a model id, in one answer.

``GET /models`` is the truth for which models exist and, on Moonshot, for their window and capabilities
(``context_length``, ``supports_reasoning``, ``supports_image_in``); the built-in table below (the lineup of
late 2026, as Moonshot documents it) fills in what the server does not say: whether thinking can be
switched, which sampling parameters the model fixes. An id known to neither gets the safest profile: no
sampling parameter is sent unless the user chooses one, and no thinking switch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any, NamedTuple

from kimi_repl.prices import Price


class Thinking(Enum):
    """Whether a model reasons before it answers."""

    NEVER = "never"
    SWITCHABLE = "switchable"  # on by default; ``thinking: {"type": "disabled"}`` turns it off
    ALWAYS = "always"


class ModelProfile(NamedTuple):
    """What a model accepts and does.

    Attributes:
        window: tokens of prompt and reply together; None when nobody says.
        fixed_sampling: the model sets its own temperature (and top_p, n, penalties): none is ever sent.
        fixed_temperature: the values it uses, (thinking off, thinking on), when they are known.
        recommended_temperature: what is sent when the user chose none (models that accept one).
        source: where the facts come from: ``server``, ``built-in``, ``family X`` or ``unknown``.
        price: what it costs on the platform in use (None: unknown, and no cost is shown).
    """

    id: str
    window: int | None = None
    thinking: Thinking = Thinking.NEVER
    images: bool = False
    fixed_sampling: bool = False
    fixed_temperature: tuple[float, float] | None = None
    recommended_temperature: float | None = None
    source: str = "unknown"
    price: Price | None = None

    @property
    def known(self) -> bool:
        """Whether anything (the server or the table) describes this model."""
        return self.source != "unknown"

    def thinks(self, choice: bool | None) -> bool:
        """Whether a request thinks, given the user's choice (None: the model's default)."""
        if self.thinking is Thinking.SWITCHABLE:
            return choice is not False
        return self.thinking is Thinking.ALWAYS

    def thinking_field(self, choice: bool | None) -> dict[str, str] | None:
        """The ``thinking`` object to send: only to models that can switch, always explicit."""
        if self.thinking is not Thinking.SWITCHABLE:
            return None
        return {"type": "enabled" if self.thinks(choice) else "disabled"}

    def temperature_to_send(self, chosen: float | None) -> float | None:
        """The temperature to send: never to a model that fixes it; else the user's, else the recommended."""
        if self.fixed_sampling:
            return None
        return chosen if chosen is not None else self.recommended_temperature

    def fixed_temperature_now(self, choice: bool | None) -> float | None:
        """The temperature the model uses on its own in the current thinking state, if known."""
        if self.fixed_temperature is None:
            return None
        return self.fixed_temperature[1 if self.thinks(choice) else 0]

    def thinking_state(self, choice: bool | None) -> str:
        """``on``, ``off``, ``always`` or ``never``."""
        if self.thinking is Thinking.SWITCHABLE:
            return "on" if self.thinks(choice) else "off"
        return str(self.thinking.value)

    def thinking_label(self, choice: bool | None) -> str:
        """``thinking on`` (off, always) for the banner, /model and the usage line; "" for a model that never
        thinks."""
        return "" if self.thinking is Thinking.NEVER else f"thinking {self.thinking_state(choice)}"


def _k2_6(model: str, images: bool = True) -> ModelProfile:
    return ModelProfile(model, 262_144, Thinking.SWITCHABLE, images, fixed_sampling=True, fixed_temperature=(0.6, 1.0))


def _instruct(model: str, window: int, temperature: float, images: bool = False) -> ModelProfile:
    return ModelProfile(model, window, Thinking.NEVER, images, recommended_temperature=temperature)


def _always_thinks(model: str, window: int, images: bool = False, temperature: float | None = None) -> ModelProfile:
    fixed = (temperature, temperature) if temperature is not None else None
    return ModelProfile(model, window, Thinking.ALWAYS, images, fixed_sampling=True, fixed_temperature=fixed)


BUILT_IN: dict[str, ModelProfile] = {
    p.id: p._replace(source="built-in")
    for p in (
        # Late 2026.
        _k2_6("kimi-k2.6"),
        _k2_6("kimi-k2.5"),
        _always_thinks("kimi-k2.7-code", 262_144, images=True),
        _always_thinks("kimi-k2.7-code-highspeed", 262_144, images=True),
        _always_thinks("kimi-k3", 1_048_576),
        _instruct("moonshot-v1-8k", 8_192, 0.3),
        _instruct("moonshot-v1-32k", 32_768, 0.3),
        _instruct("moonshot-v1-128k", 131_072, 0.3),
        _instruct("moonshot-v1-auto", 131_072, 0.3),
        _instruct("moonshot-v1-8k-vision-preview", 8_192, 0.3, images=True),
        _instruct("moonshot-v1-32k-vision-preview", 32_768, 0.3, images=True),
        _instruct("moonshot-v1-128k-vision-preview", 131_072, 0.3, images=True),
        # Discontinued in 2026, still served by older deployments.
        _instruct("kimi-k2-turbo-preview", 262_144, 0.6),
        _instruct("kimi-k2-0905-preview", 262_144, 0.6),
        _instruct("kimi-k2-0711-preview", 131_072, 0.6),
        _instruct("kimi-latest", 131_072, 0.6, images=True),
        _always_thinks("kimi-k2-thinking", 262_144, temperature=1.0),
        _always_thinks("kimi-k2-thinking-turbo", 262_144, temperature=1.0),
    )
}

DEFAULT_MODEL = "kimi-k2.6"
"""Used when no model is configured and ``GET /models`` cannot be read."""

PREFERRED_MODELS = (
    "kimi-k2.6",
    "kimi-k2.5",
    "kimi-k3",
    "kimi-k2.7-code",
    "kimi-k2-turbo-preview",
    "kimi-k2-0905-preview",
    "kimi-latest",
)
"""The default model is the first of these the server lists (a chat client wants the flagship)."""

OLDER_MODELS = ("moonshot-v1-auto", "moonshot-v1-128k", "moonshot-v1-32k", "moonshot-v1-8k")
"""The default when the server lists no Kimi model at all."""


def built_in(model: str) -> ModelProfile | None:
    """The table's profile for ``model``, or for the family it belongs to (``kimi-k2.6-0415`` → kimi-k2.6)."""
    found = BUILT_IN.get(model)
    if found is not None:
        return found
    family = max((name for name in BUILT_IN if model.startswith(name + "-")), key=len, default=None)
    if family is None:
        return None
    return BUILT_IN[family]._replace(id=model, source=f"family {family}")


def profile_for(model: str, entry: Mapping[str, Any] | None = None) -> ModelProfile:
    """The profile of ``model``: the server's ``/models`` entry first, the built-in table for the rest.

    Args:
        entry: the model's entry in ``GET /models``, if the server listed it.
    """
    base = built_in(model) or ModelProfile(model)
    if entry is None:
        return base
    window = _positive_int(entry.get("context_length"))
    reasoning = entry.get("supports_reasoning")
    images = entry.get("supports_image_in")
    said = window is not None or isinstance(reasoning, bool) or isinstance(images, bool)
    if not said:  # a plain OpenAI-compatible server: it lists the id and nothing else
        return base
    thinking = base.thinking
    if reasoning is False:
        thinking = Thinking.NEVER
    elif reasoning is True and thinking is Thinking.NEVER:
        thinking = Thinking.ALWAYS  # it reasons, and nothing says it can be switched off
    if thinking is not base.thinking and not base.known:
        # An id the table does not know: send it no sampling parameter it might refuse.
        base = base._replace(fixed_sampling=thinking is not Thinking.NEVER)
    return base._replace(
        window=window or base.window,
        thinking=thinking,
        images=images if isinstance(images, bool) else base.images,
        source="server" if not base.known else f"server + {base.source}",
    )


def choose_default(listed: Iterable[str]) -> str:
    """The default model among the ids the server lists.

    The first preferred one; else the first Kimi model listed (a lineup newer than this table); else the
    best moonshot-v1; else the first listed (a server that is not Moonshot's serves its own models);
    :data:`DEFAULT_MODEL` when the list is empty.
    """
    ids = list(listed)
    available = set(ids)
    preferred = next((m for m in PREFERRED_MODELS if m in available), None)
    newer = next((m for m in ids if m.startswith("kimi-")), None)
    older = next((m for m in OLDER_MODELS if m in available), None)
    return preferred or newer or older or (ids[0] if ids else DEFAULT_MODEL)


def closest(name: str, listed: Iterable[str], *, limit: int = 6) -> list[str]:
    """Up to ``limit`` of ``listed``, the closest to ``name`` first.

    Model ids share their family as a prefix, so the longest common start ranks first (a discontinued
    ``kimi-k2-turbo-preview`` is nearest to today's ``kimi-k2.6``), then the preferred models, then plain
    similarity.
    """

    import difflib

    def rank(model: str) -> tuple[int, int, float]:
        pairs = zip(name, model, strict=False)
        shared = next((i for i, (a, b) in enumerate(pairs) if a != b), min(len(name), len(model)))
        preferred = PREFERRED_MODELS.index(model) if model in PREFERRED_MODELS else len(PREFERRED_MODELS)
        return -shared, preferred, -difflib.SequenceMatcher(None, name, model).ratio()

    return sorted(set(listed), key=rank)[:limit]


MIN_WINDOW, MAX_WINDOW = 1024, 1 << 30
"""A window a server reports outside these is not believed (a chat needs room; no model holds a billion)."""


def _positive_int(value: Any) -> int | None:
    """A window the server reports, if it is a believable one."""
    ok = isinstance(value, int) and not isinstance(value, bool) and MIN_WINDOW <= value <= MAX_WINDOW
    return value if ok else None
