"""Settings from command-line flags > environment > a ``.env`` file > built-in defaults; user folders."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

from kimi_repl.context import DEFAULT_REPLY_CAP
from kimi_repl.errors import UserError
from kimi_repl.files import read_regular_file
from kimi_repl.values import (
    check_api_key,
    check_model_name,
    parse_base_url,
    parse_on_off,
    parse_reply_tokens,
    parse_retries,
    parse_timeout,
)

T = TypeVar("T")

APP_NAME = "kimi-repl"
DEFAULT_BASE_URL = "https://api.moonshot.cn/v1"
API_KEY_VARIABLES = ("MOONSHOT_API_KEY", "KIMI_API_KEY")


class ConfigError(UserError):
    """A setting is missing or wrong."""


@dataclass
class Settings:
    """Everything the session needs to talk to Moonshot.

    ``model`` is None when nothing names one: the session then picks the default from ``GET /models``.
    ``temperature`` is None until the user chooses one: each model then gets its recommended value.
    ``thinking`` is None for each model's default. ``max_tokens`` caps the reply budget.
    """

    api_key: str
    base_url: str = DEFAULT_BASE_URL
    model: str | None = None
    temperature: float | None = None
    system: str | None = None
    thinking: bool | None = None
    max_tokens: int = DEFAULT_REPLY_CAP
    timeout: float = 180.0
    max_retries: int = 2
    api_key_source: str = "MOONSHOT_API_KEY"

    def __repr__(self) -> str:  # never let the key reach a log or a traceback
        return (
            f"Settings(api_key='***', base_url={self.base_url!r}, model={self.model!r}, "
            f"temperature={self.temperature!r}, system={self.system!r}, thinking={self.thinking!r}, "
            f"max_tokens={self.max_tokens!r})"
        )


MAX_DOTENV_BYTES = 1_048_576


def read_dotenv(start: Path | None = None) -> dict[str, str]:
    """Values of the nearest ``.env`` file, searching from ``start`` (the working directory) upwards.

    A folder named ``.env`` (a virtual environment) is passed over, as python-dotenv does.

    Raises:
        ConfigError: the nearest ``.env`` is not a regular file (a FIFO would hang start-up), cannot be read,
            is too big or is not UTF-8 text.
    """
    import io

    from dotenv import dotenv_values

    here = start if start is not None else Path.cwd()
    for folder in (here, *here.parents):
        candidate = folder / ".env"
        try:
            if not os.path.lexists(candidate) or candidate.is_dir():
                continue
        except OSError:
            continue
        data = read_regular_file(candidate, max_bytes=MAX_DOTENV_BYTES, kind="a .env file", error=ConfigError)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise ConfigError(f"{candidate} is not UTF-8 text (byte {error.start + 1} cannot be read)") from None
        return {k: v for k, v in dotenv_values(stream=io.StringIO(text)).items() if v is not None}
    return {}


def load_settings(
    *,
    model: str | None = None,
    temperature: float | None = None,
    system: str | None = None,
    base_url: str | None = None,
    thinking: bool | None = None,
    max_tokens: int | None = None,
    environ: Mapping[str, str] | None = None,
    dotenv: Mapping[str, str] | None = None,
) -> Settings:
    """Merge flags, environment, ``.env`` and defaults, highest first.

    Raises:
        ConfigError: when no API key is found anywhere.
    """
    env = os.environ if environ is None else environ
    file_values = read_dotenv() if dotenv is None else dotenv

    def find(*names: str) -> tuple[str, str] | None:
        for where, source in (("", env), (" in .env", file_values)):
            for name in names:
                value = source.get(name, "").strip()
                if value:
                    return value, name + where
        return None

    def lookup(name: str) -> str | None:
        found = find(name)
        return found[0] if found else None

    key = find(*API_KEY_VARIABLES)
    if key is None:
        raise ConfigError(
            "no API key. Set MOONSHOT_API_KEY in the environment, or add the line MOONSHOT_API_KEY=sk-... "
            "to a .env file in this folder (keys: https://platform.moonshot.cn)."
        )
    _checked(partial(check_api_key, what=key[1]), key[0], key[1])
    base_url = _checked(partial(parse_base_url, what="--base-url"), base_url, "--base-url") if base_url else None
    if base_url is None and (address := lookup("MOONSHOT_BASE_URL")):
        base_url = _checked(partial(parse_base_url, what="MOONSHOT_BASE_URL"), address, "MOONSHOT_BASE_URL")
    timeout, retries = lookup("MOONSHOT_TIMEOUT"), lookup("MOONSHOT_MAX_RETRIES")
    if model is None and (named := lookup("MOONSHOT_MODEL")):
        model = _checked(check_model_name, named, "MOONSHOT_MODEL")
    if thinking is None and (word := lookup("MOONSHOT_THINKING")):
        thinking = _checked(partial(parse_on_off, what="MOONSHOT_THINKING"), word, "MOONSHOT_THINKING")
    if max_tokens is None and (count := lookup("MOONSHOT_MAX_TOKENS")):
        max_tokens = _checked(
            lambda text: parse_reply_tokens(text, "MOONSHOT_MAX_TOKENS"), count, "MOONSHOT_MAX_TOKENS"
        )
    return Settings(
        api_key=key[0],
        api_key_source=key[1],
        base_url=base_url or DEFAULT_BASE_URL,
        model=model,
        temperature=temperature,
        system=system,
        thinking=thinking,
        max_tokens=max_tokens or DEFAULT_REPLY_CAP,
        timeout=_checked(partial(parse_timeout, what="MOONSHOT_TIMEOUT"), timeout, "") if timeout else 180.0,
        max_retries=_checked(partial(parse_retries, what="MOONSHOT_MAX_RETRIES"), retries, "") if retries else 2,
    )


def _checked(parse: Callable[[str], T], text: str, name: str) -> T:
    """``parse(text)``, its complaint made a :class:`ConfigError` naming the variable."""
    try:
        return parse(text)
    except ValueError as error:
        message = str(error)
        raise ConfigError(message if name in message else f"{name}: {message}") from None


def state_dir() -> Path:
    """The user's state folder for kimi-repl (input history), created private."""
    from platformdirs import user_state_path

    path = user_state_path(APP_NAME)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def sessions_dir() -> Path:
    """The folder of autosaved sessions, in the user's data folder, created private."""
    from platformdirs import user_data_path

    path = user_data_path(APP_NAME) / "sessions"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def history_file() -> Path:
    """The prompt history file, created with mode 0600 so only its owner can read it."""
    path = state_dir() / "history"
    fd = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
    os.close(fd)
    return path
