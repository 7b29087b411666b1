"""Settings from command-line flags > environment > a ``.env`` file > ``config.toml`` > defaults; folders.

Every value is checked by the same parser wherever it comes from (:mod:`kimi_repl.values`); a bad one is a
:class:`~kimi_repl.errors.ConfigError` of one line that names where it was (the variable, or the file and its
line). The files are read by :mod:`kimi_repl.envfile` (``.env``) and :mod:`kimi_repl.configfile` (``config.toml``).
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from kimi_repl import APP_NAME
from kimi_repl.configfile import ROLE_KEYS, ConfigFile, config_path, read_config
from kimi_repl.configfile import Role as Role
from kimi_repl.envfile import DotEnv, find_dotenv
from kimi_repl.errors import ConfigError
from kimi_repl.planner import DEFAULT_REPLY_CAP
from kimi_repl.prices import Price
from kimi_repl.values import (
    check_api_key,
    check_model_name,
    parse_base_url,
    parse_on_off,
    parse_reply_tokens,
    parse_retries,
    parse_timeout,
    public_url,
)

DEFAULT_BASE_URL = "https://api.moonshot.cn/v1"
MOONSHOT_HOSTS = ("api.moonshot.cn", "api.moonshot.ai")
API_KEY_VARIABLES = ("MOONSHOT_API_KEY", "KIMI_API_KEY")


@dataclass
class Settings:
    """Everything the session needs to talk to Moonshot.

    ``model`` is None when nothing names one: the session then picks the default from ``GET /models``.
    ``temperature`` is None until the user chooses one: each model then gets its recommended value.
    ``thinking`` is None for each model's default. ``max_tokens`` caps the reply budget. ``role`` is the
    role asked for with ``--role`` (already applied to the other fields); ``roles`` are all the config
    file defines.
    """

    api_key: str
    base_url: str = DEFAULT_BASE_URL
    model: str | None = None
    temperature: float | None = None
    system: str | None = None
    thinking: bool | None = None
    web: bool = False
    max_tokens: int = DEFAULT_REPLY_CAP
    timeout: float = 180.0
    max_retries: int = 2
    api_key_source: str = "MOONSHOT_API_KEY"
    role: str | None = None
    roles: dict[str, Role] = field(default_factory=dict)
    prices: dict[str, Price] = field(default_factory=dict)
    """``[prices."MODEL"]`` from the config file: set or override the built-in prices."""
    base_url_source: str = "the default"
    """Where ``base_url`` came from: a flag, a variable (and its ``.env`` file), the config file, the default."""
    allow_http: bool = False
    shell: str | None = None
    """The program ``!COMMAND`` runs in (config.toml's ``shell``; None: ``$SHELL`` or ``%COMSPEC%``)."""
    titles: str = "local"
    """How a session gets its title: "local", from its first message; "model", asked of the model after the first
    reply (config.toml's ``titles``)."""
    notes: list[str] = field(default_factory=list)
    """Warnings found while reading the settings (a ``.env`` passed over, and why), to show at start-up."""

    def destination(self) -> str | None:
        """Where requests go and who said so, when it is not Moonshot's default (for the banner and /model)."""
        if self.base_url == DEFAULT_BASE_URL:
            return None
        return f"Requests go to {public_url(self.base_url)} ({self.base_url_source})."

    def key_origin(self) -> str | None:
        """Which ``.env`` the API key came from, when one did (a project's may replace the user's own key)."""
        if ".env" not in self.api_key_source:
            return None
        return f"The API key is {self.api_key_source}."

    @property
    def base_url_trusted(self) -> bool:
        """Whether requests may go to ``base_url`` before the user has seen where: it is Moonshot's, or the user
        set it outside a ``.env`` file (which a cloned repository can ship)."""
        return is_moonshot(self.base_url) or ".env" not in self.base_url_source

    def __repr__(self) -> str:  # never let the key reach a log or a traceback
        return (
            f"Settings(api_key='***', base_url={public_url(self.base_url)!r}, model={self.model!r}, "
            f"temperature={self.temperature!r}, system={self.system!r}, thinking={self.thinking!r}, "
            f"web={self.web!r}, max_tokens={self.max_tokens!r}, role={self.role!r}, "
            f"base_url_source={self.base_url_source!r})"
        )


# -- merging ---------------------------------------------------------------------------------------

VARIABLES = {
    "model": "MOONSHOT_MODEL",
    "base_url": "MOONSHOT_BASE_URL",
    "thinking": "MOONSHOT_THINKING",
    "web": "MOONSHOT_WEB",
    "max_tokens": "MOONSHOT_MAX_TOKENS",
    "timeout": "MOONSHOT_TIMEOUT",
    "max_retries": "MOONSHOT_MAX_RETRIES",
}
"""The environment (and ``.env``) variable of each setting that has one."""

TEXT_PARSERS: dict[str, Callable[[str, str], Any]] = {
    "model": lambda text, name: _named(check_model_name, text, name),
    "base_url": parse_base_url,
    "thinking": parse_on_off,
    "web": parse_on_off,
    "max_tokens": parse_reply_tokens,
    "timeout": parse_timeout,
    "max_retries": parse_retries,
}


def _named(parse: Callable[[str], Any], text: str, name: str) -> Any:
    try:
        return parse(text)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None


ALLOW_HTTP_VARIABLE = "MOONSHOT_ALLOW_HTTP"
"""Opts in to plain http:// to another machine (never from a ``.env``: a file may not lower the guard)."""


def load_settings(
    *,
    model: str | None = None,
    temperature: float | None = None,
    system: str | None = None,
    base_url: str | None = None,
    thinking: bool | None = None,
    web: bool | None = None,
    max_tokens: int | None = None,
    role: str | None = None,
    allow_http: bool | None = None,
    environ: Mapping[str, str] | None = None,
    dotenv: Mapping[str, str] | DotEnv | None = None,
    config: ConfigFile | None = None,
) -> Settings:
    """Merge flags (the arguments), environment, ``.env``, the config file and defaults, highest first.

    A role (``role``) sets what no flag sets: its model, temperature, system prompt and thinking win over
    the environment and the files, a flag wins over the role.

    Raises:
        ConfigError: no API key anywhere, a bad value anywhere, an unknown role, or a plain http:// base URL
            to another machine without ``allow_http``.
    """
    env = os.environ if environ is None else environ
    found_dotenv = (
        find_dotenv() if dotenv is None else dotenv if isinstance(dotenv, DotEnv) else DotEnv(None, dict(dotenv))
    )
    file_values = found_dotenv.values
    in_dotenv = f" in {found_dotenv.path}" if found_dotenv.path else " in .env"
    config = read_config() if config is None else config
    in_config = f" in {config.path}" if config.path else " in the config file"

    def find(*names: str) -> tuple[str, str] | None:
        for where, source in (("", env), (in_dotenv, file_values)):
            for name in names:
                value = source.get(name, "").strip()
                if value:
                    return value, name + where
        return None

    key = find(*API_KEY_VARIABLES)
    if key is None:
        passed_over = "".join(" " + note for note in found_dotenv.notes)
        raise ConfigError(
            "no API key. Set MOONSHOT_API_KEY in the environment, or add the line MOONSHOT_API_KEY=sk-... "
            f"to a .env file in this folder (keys: https://platform.moonshot.cn).{passed_over}"
        )
    _as_config_error(lambda: check_api_key(key[0], key[1]))
    flags: dict[str, Any] = {
        "model": model,
        "base_url": _as_config_error(lambda: parse_base_url(base_url, "--base-url")) if base_url else None,
        "thinking": thinking,
        "web": web,
        "max_tokens": max_tokens,
        "timeout": None,
        "max_retries": None,
    }
    chosen: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for name, flag in flags.items():
        found = find(VARIABLES[name])
        if flag is not None:
            chosen[name], origin[name] = flag, "--" + name.replace("_", "-")
        elif found is not None:
            chosen[name], origin[name] = _as_config_error(partial(TEXT_PARSERS[name], *found)), found[1]
        elif name in config.values:
            chosen[name], origin[name] = config.values[name], name + in_config
    chosen["temperature"] = temperature if temperature is not None else config.values.get("temperature")
    chosen["system"] = system if system is not None else config.values.get("system")
    if role is not None:
        picked = config.roles.get(role)
        if picked is None:
            known = ", ".join(sorted(config.roles)) or f"none yet: add [roles.{role}] to {config_path()}"
            raise ConfigError(f"no role {role!r} in the config file (roles: {known})")
        given = {"model": model, "temperature": temperature, "system": system, "thinking": thinking}
        for name in ROLE_KEYS:
            if given[name] is None and getattr(picked, name) is not None:
                chosen[name] = getattr(picked, name)
    url = chosen.get("base_url") or DEFAULT_BASE_URL
    url_origin = origin.get("base_url", "the default")
    # Not even this machine: another user may listen on a local port, and a .env may come with a repository.
    if not is_moonshot(url) and url_origin.endswith(in_dotenv) and not key[1].endswith(in_dotenv):
        raise ConfigError(
            f"{url_origin} sends requests to {_host(url)}, but the API key is {key[1]}: a .env file may point "
            "requests at another host only with a key of its own. If you mean it, set MOONSHOT_BASE_URL in the "
            "environment or config.toml, or pass --base-url."
        )
    http_allowed = _allow_http(allow_http, env, config)
    if not http_allowed and not is_secure_enough(url):
        raise ConfigError(
            f"{url_origin} is plain http:// to another machine ({_host(url)}): the API key would cross the "
            f"network unencrypted. Use https://, or allow it with --allow-http ({ALLOW_HTTP_VARIABLE}=1, or "
            "allow_http = true in config.toml)."
        )
    return Settings(
        api_key=key[0],
        api_key_source=key[1],
        base_url=url,
        base_url_source=url_origin,
        allow_http=http_allowed,
        model=chosen.get("model"),
        temperature=chosen.get("temperature"),
        system=chosen.get("system"),
        thinking=chosen.get("thinking"),
        web=bool(chosen.get("web")),
        max_tokens=chosen.get("max_tokens") or DEFAULT_REPLY_CAP,
        timeout=chosen.get("timeout") or 180.0,
        max_retries=chosen["max_retries"] if chosen.get("max_retries") is not None else 2,
        role=role,
        roles=dict(config.roles),
        prices=dict(config.prices),
        shell=config.values.get("shell"),
        titles=config.values.get("titles", "local"),
        notes=list(found_dotenv.notes),
    )


def _allow_http(flag: bool | None, env: Mapping[str, str], config: ConfigFile) -> bool:
    if flag is not None:
        return flag
    variable = env.get(ALLOW_HTTP_VARIABLE, "").strip()
    if variable:
        return bool(_as_config_error(lambda: parse_on_off(variable, ALLOW_HTTP_VARIABLE)))
    return bool(config.values.get("allow_http", False))


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).hostname or ""


def is_loopback(url: str) -> bool:
    """Whether ``url`` points at this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    import ipaddress

    host = _host(url).lower()
    if host == "localhost":  # not *.localhost: whether those stay on this machine is up to the resolver
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_moonshot(url: str) -> bool:
    """Whether ``url`` is one of Moonshot's API hosts, over https."""
    return url.startswith("https://") and _host(url).lower() in MOONSHOT_HOSTS


def is_secure_enough(url: str) -> bool:
    """https:// anywhere, or http:// to this machine only."""
    return url.startswith("https://") or is_loopback(url)


def _as_config_error(parse: Callable[[], Any]) -> Any:
    """``parse()``, its complaint (which names the setting) made a :class:`ConfigError`."""
    try:
        return parse()
    except ValueError as error:
        raise ConfigError(str(error)) from None


# -- folders ---------------------------------------------------------------------------------------


def private_folder(path: Path) -> Path:
    """``path``, a folder; each missing folder on the way to it is created readable only by the user (0700),
    whatever the umask (``mkdir -p`` would give the ones above the last the umask's mode: 0777 under umask 000).

    Raises:
        OSError: it cannot be created, or something else is in its place.
    """
    missing: list[Path] = []
    folder = path
    while not os.path.lexists(folder) and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:  # made meanwhile, by another kimi-repl
            continue
        os.chmod(folder, 0o700)  # the umask can only take bits away: put them back
    if not os.path.isdir(path):
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
    return path


def _own_app_folder(path: Path) -> Path:
    """kimi-repl's own folder (``.../kimi-repl``), made private, and made private again if an older version (or
    a umask) left it readable by others: its history and logs are the user's alone."""
    private_folder(path)
    with contextlib.suppress(OSError):
        status = os.lstat(path)
        if hasattr(os, "getuid") and status.st_uid == os.getuid() and status.st_mode & 0o077:
            os.chmod(path, 0o700)
    return path


def state_dir() -> Path:
    """The user's state folder for kimi-repl (input history), created private."""
    from platformdirs import user_state_path

    return _own_app_folder(user_state_path(APP_NAME))


def data_dir() -> Path:
    """The user's data folder for kimi-repl, created private."""
    from platformdirs import user_data_path

    return _own_app_folder(user_data_path(APP_NAME))


def cache_dir() -> Path:
    """The user's cache folder for kimi-repl (what can be fetched again), created private."""
    from platformdirs import user_cache_path

    return _own_app_folder(user_cache_path(APP_NAME))


def extracts_dir() -> Path:
    """The folder of documents' extracted text, in the user's cache folder, created private (see
    :class:`~kimi_repl.extracts.ExtractCache` for the folder it refuses)."""
    return private_folder(cache_dir() / "extracts")


def sessions_dir() -> Path:
    """The folder of autosaved sessions, in the user's data folder, created private (see
    :class:`~kimi_repl.sessions.SessionStore` for the folder it refuses)."""
    return private_folder(data_dir() / "sessions")


def history_file() -> Path:
    """The prompt history file, created with mode 0600 so only its owner can read it."""
    path = state_dir() / "history"
    fd = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # one an older version left readable by others is made private too
    finally:
        os.close(fd)
    return path
