"""``config.toml``: top-level settings, ``[roles.NAME]`` and ``[prices."MODEL"]`` tables, every value checked.

A bad value is a :class:`~kimi_repl.errors.ConfigError` of one line that names the file and the line.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from kimi_repl import APP_NAME
from kimi_repl.envfile import read_private_text
from kimi_repl.errors import ConfigError
from kimi_repl.prices import Price
from kimi_repl.values import (
    check_model_name,
    parse_base_url,
    parse_on_off,
    parse_reply_tokens,
    parse_retries,
    parse_temperature,
    parse_timeout,
)

MAX_CONFIG_BYTES = 1_048_576


class Role(NamedTuple):
    """A named set of settings from ``[roles.NAME]`` in the config file (any may be left out)."""

    name: str
    system: str | None = None
    model: str | None = None
    temperature: float | None = None
    thinking: bool | None = None

    def describe(self) -> str:
        """``model kimi-k2.6 · temperature 0.2 · thinking off · system: You are…`` for /role."""
        parts = [f"model {self.model}"] if self.model else []
        if self.temperature is not None:
            parts.append(f"temperature {self.temperature:g}")
        if self.thinking is not None:
            parts.append(f"thinking {'on' if self.thinking else 'off'}")
        if self.system:
            first = " ".join(self.system.split())
            parts.append(f"system: {first[:50]}{'…' if len(first) > 50 else ''}")
        return " · ".join(parts) or "(no settings)"


@dataclass
class ConfigFile:
    """``config.toml``: top-level settings and ``[roles.NAME]`` tables, checked."""

    path: Path | None = None
    values: dict[str, Any] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)
    prices: dict[str, Price] = field(default_factory=dict)


def config_path() -> Path:
    """``config.toml`` in the user's config folder (``$XDG_CONFIG_HOME/kimi-repl/`` on Linux)."""
    from platformdirs import user_config_path

    return user_config_path(APP_NAME) / "config.toml"


def read_config(path: Path | None = None) -> ConfigFile:
    """The user's config file, or an empty one if there is none.

    Raises:
        ConfigError: it cannot be read, is not TOML, or holds a bad value (one line: the file and the line).
    """
    path = path or config_path()
    if not os.path.lexists(path):
        return ConfigFile()
    text = read_private_text(path, "a config file", MAX_CONFIG_BYTES)
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: {' '.join(str(error).split())}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to read") from None
    where = _Where(path, text)
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("roles", "prices"):
            continue
        parse = CONFIG_KEYS.get(key)
        if key.lower() in ("api_key", "key", "moonshot_api_key", "kimi_api_key"):
            raise where.error(
                key, "the API key is never read from config.toml: set MOONSHOT_API_KEY (or put it in .env)"
            )
        if parse is None:
            known = f'known: {", ".join(CONFIG_KEYS)}, [roles.NAME], [prices."MODEL"]'
            raise where.error(key, f"unknown setting {_shown(key)} ({known})")
        values[key] = where.parsed(parse, key, value)
    roles_data = data.get("roles", {})
    if not isinstance(roles_data, dict):
        raise where.error("roles", "roles must be tables: [roles.NAME]")
    roles = {}
    for name, table in roles_data.items():
        if not isinstance(table, dict):
            raise where.error(name, f"role {_shown(name)} must be a table: [roles.NAME]")
        fields: dict[str, Any] = {}
        for key, value in table.items():
            if key not in ROLE_KEYS:
                known = f"known: {', '.join(ROLE_KEYS)}"
                raise where.error(key, f"unknown setting {_shown(key)} in role {_shown(name)} ({known})")
            fields[key] = where.parsed(CONFIG_KEYS[key], key, value, section=f"roles.{name}")
        roles[name] = Role(name=name, **fields)
    return ConfigFile(path, values, roles, _prices(data.get("prices", {}), where))


PRICE_KEYS = ("input", "cached", "output", "currency")


def _prices(data: Any, where: _Where) -> dict[str, Price]:
    """``[prices."MODEL"]`` tables: ``input`` (a cache miss), ``cached`` (a hit; ``input`` if left out) and
    ``output``, per million tokens, and the ``currency`` (``USD`` if left out)."""
    if not isinstance(data, dict):
        raise where.error("prices", 'prices must be tables: [prices."MODEL"]')
    prices = {}
    for model, table in data.items():
        section = f"prices.{model}"
        if not isinstance(table, dict):
            raise where.error(model, f'prices of {_shown(model)} must be a table: [prices."MODEL"]')
        unknown = next((key for key in table if key not in PRICE_KEYS), None)
        if unknown is not None:
            known = f"known: {', '.join(PRICE_KEYS)}"
            raise where.error(unknown, f"unknown setting {_shown(unknown)} in prices of {_shown(model)} ({known})")
        for needed in ("input", "output"):
            if needed not in table:
                raise where.error(model, f"prices of {_shown(model)} need {needed} (per million tokens)")
        amounts = {
            key: where.parsed(_amount, key, table[key], section)
            for key in ("input", "cached", "output")
            if key in table
        }
        currency = where.parsed(_currency, "currency", table.get("currency", "USD"), section)
        try:
            check_model_name(model)
        except ValueError as problem:
            raise where.error(model, f"prices: {problem}") from None
        prices[model] = Price(amounts["input"], amounts.get("cached", amounts["input"]), amounts["output"], currency)
    return prices


def _amount(value: Any) -> float:
    """A price per million tokens: a number from 0 to 10,000."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 10_000:
        raise ValueError("expected a price per million tokens, a number from 0 to 10000")
    return float(value)


def _currency(value: Any) -> str:
    """A currency's code or sign, short and printable (USD, CNY, EUR...)."""
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{1,8}", value):
        raise ValueError("expected a currency code such as USD or CNY")
    return value.upper()


class _Where(NamedTuple):
    """Says where in the config file a key is, for messages."""

    path: Path
    text: str

    def line(self, key: str, section: str | None = None) -> int | None:
        if len(key) > MAX_NAME or (section is not None and len(section) > MAX_NAME):
            return None
        start = 0
        if section is not None:  # [ \t], not \s: \s spans lines, and a file of blank lines would be quadratic
            header = re.search(rf"^[ \t]*\[[ \t]*{re.escape(section)}[ \t]*\]", self.text, re.MULTILINE)
            start = header.end() if header else 0
        found = re.compile(rf"^[ \t]*[\"']?{re.escape(key)}[\"']?[ \t]*=", re.MULTILINE).search(self.text, start)
        return self.text.count("\n", 0, found.start()) + 1 if found else None

    def error(self, key: str, message: str, section: str | None = None) -> ConfigError:
        number = self.line(key, section)
        return ConfigError(f"{self.path}{f', line {number}' if number else ''}: {message}")

    def parsed(self, parse: Callable[[Any], Any], key: str, value: Any, section: str | None = None) -> Any:
        try:
            return parse(value)
        except ValueError as problem:
            message = str(problem)
            named = message.lower().startswith((key.lower(), key.replace("_", " ").lower()))
            raise self.error(key, message if named else f"{key}: {message}", section) from None


MAX_NAME = 80


def _shown(name: str) -> str:
    """A name from the file, quoted for a message (cut if it is long)."""
    return repr(name if len(name) <= MAX_NAME else name[:MAX_NAME] + "…")


def _text(parse: Callable[[str], Any]) -> Callable[[Any], Any]:
    """A config value parser from a text parser: strings as they are, numbers and booleans as TOML wrote them."""

    def convert(value: Any) -> Any:
        if isinstance(value, bool):
            return parse("true" if value else "false")
        if isinstance(value, (int, float, str)):
            return parse(str(value))
        raise ValueError(f"expected text or a number, not {type(value).__name__}")

    return convert


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, not {type(value).__name__}")
    return value


def _choice(value: Any, key: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{key} is one of {', '.join(repr(c) for c in choices)}, not {_shown(str(value))}")
    return str(value)


CONFIG_KEYS: dict[str, Callable[[Any], Any]] = {
    "model": lambda value: check_model_name(_string(value)),
    "temperature": _text(parse_temperature),
    "system": _string,
    "base_url": lambda value: parse_base_url(_string(value), "base_url"),
    "thinking": _text(lambda text: parse_on_off(text, "thinking")),
    "web": _text(lambda text: parse_on_off(text, "web")),
    "max_tokens": _text(lambda text: parse_reply_tokens(text, "max_tokens")),
    "timeout": _text(lambda text: parse_timeout(text, "timeout")),
    "max_retries": _text(lambda text: parse_retries(text, "max_retries")),
    "allow_http": _text(lambda text: parse_on_off(text, "allow_http")),
    "shell": _string,
    "titles": lambda value: _choice(value, "titles", ("local", "model")),
}
ROLE_KEYS = ("system", "model", "temperature", "thinking")
