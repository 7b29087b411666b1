"""What replies cost: each model's price per million tokens, and the cost of a reply or a conversation.

Moonshot bills input tokens at one price when they miss the prompt cache and a lower one when they hit it,
and output tokens (reasoning included) at a third; in CNY on api.moonshot.cn, in USD on api.moonshot.ai. The
built-in table holds only prices published by Moonshot and seen on a dated page; a model (or platform) it
does not know has no price, and then only tokens are shown: a cost is never guessed. ``[prices."MODEL"]``
in ``config.toml`` sets or overrides one (any currency).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from kimi_repl.conversation import Turn, Usage


class Price(NamedTuple):
    """A model's price per million tokens.

    Attributes:
        miss: input tokens not served from the prompt cache.
        hit: input tokens served from the prompt cache.
        output: completion tokens (reasoning included).
        currency: ``USD``, ``CNY`` or what the user wrote.
        source: where it comes from (``Moonshot, 2026-12-01`` or ``config.toml``).
    """

    miss: float
    hit: float
    output: float
    currency: str
    source: str = "config.toml"

    def cost(self, usage: Usage) -> float:
        """What ``usage`` costs: cached input at the cache price, the rest of the input at the full one."""
        cached = min(usage.cached, usage.prompt)
        return ((usage.prompt - cached) * self.miss + cached * self.hit + usage.completion * self.output) / 1e6


PRICES_SEEN = "2026-12-01"
"""When the built-in prices were last checked against Moonshot's price pages (platform.kimi.ai/docs/pricing)."""

_GLOBAL = f"Moonshot's price list (platform.kimi.ai), {PRICES_SEEN}"

GLOBAL_PRICES: dict[str, Price] = {
    # USD per million tokens on api.moonshot.ai: cache miss, cache hit, output.
    "kimi-k3": Price(3.00, 0.30, 15.00, "USD", _GLOBAL),
    "kimi-k2.6": Price(0.95, 0.16, 4.00, "USD", _GLOBAL),
    "kimi-k2.7-code": Price(0.95, 0.16, 4.00, "USD", _GLOBAL),  # priced as kimi-k2.6, Moonshot says
    "kimi-k2.5": Price(0.60, 0.10, 3.00, "USD", _GLOBAL),
}
"""api.moonshot.ai. The CNY list of api.moonshot.cn could not be checked on a dated page: none is built in
(set ``[prices."MODEL"]`` with ``currency = "CNY"``)."""

PLATFORM_PRICES: dict[str, dict[str, Price]] = {"api.moonshot.ai": GLOBAL_PRICES}

CURRENCY_SIGNS = {"USD": "$", "CNY": "¥"}


def _lookup(table: Mapping[str, Price], model: str) -> Price | None:
    """``model``'s price in ``table``, or its family's (``kimi-k2.6-0415`` is priced as kimi-k2.6)."""
    found = table.get(model)
    if found is not None:
        return found
    family = max((name for name in table if model.startswith(name + "-")), key=len, default=None)
    return table[family] if family is not None else None


class PriceBook:
    """The prices one session knows: the user's ``[prices."MODEL"]`` first, then the platform's table."""

    def __init__(self, base_url: str, configured: Mapping[str, Price] | None = None) -> None:
        host = (urlsplit(base_url).hostname or "").lower()
        self.configured = dict(configured or {})
        self.platform = PLATFORM_PRICES.get(host, {})

    def price(self, model: str) -> Price | None:
        """``model``'s price, or None when nobody published one for this platform."""
        return _lookup(self.configured, model) or _lookup(self.platform, model)


def money(amount: float, currency: str) -> str:
    """``$0.0123``, ``¥1.20``, ``0.50 EUR``: enough digits to show what a short reply costs."""
    digits = 4 if amount < 1 else 2
    sign = CURRENCY_SIGNS.get(currency.upper())
    return f"{sign}{amount:,.{digits}f}" if sign else f"{amount:,.{digits}f} {currency}"


class Spent(NamedTuple):
    """What a conversation's replies cost: per currency, and how many replies have no known price."""

    totals: dict[str, float]
    unpriced: int

    def shown(self) -> str:
        """``$0.0123`` (``+ ¥0.50`` for more currencies), or "" when no reply has a price."""
        return " + ".join(money(amount, currency) for currency, amount in self.totals.items())


def spent(turns: Iterable[Turn], price_of: Callable[[str], Price | None], default_model: str) -> Spent:
    """The cost of every reply that reported usage, at the price of the model that wrote it (all the
    requests of a continued reply)."""
    totals: dict[str, float] = {}
    unpriced = 0
    for turn in turns:
        usage = (turn.spent or turn.usage) if turn.role == "assistant" else None
        if usage is None:
            continue
        price = price_of(turn.model or default_model)
        if price is None or any(price_of(model) != price for model in turn.written_by):
            unpriced += 1  # a reply continued on a model of another price: its parts' usage is not known apart
            continue
        totals[price.currency] = totals.get(price.currency, 0.0) + price.cost(usage)
    return Spent(totals, unpriced)
