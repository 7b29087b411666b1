"""Settings from command-line flags > environment > a ``.env`` file > ``config.toml`` > defaults; roles; folders.

Every value is checked by the same parser wherever it comes from (:mod:`kimi_repl.values`); a bad one is a
:class:`ConfigError` of one line that names where it was (the variable, or the file and its line).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from kimi_repl.errors import UserError
from kimi_repl.files import NotPrivate, changeable_by_others, read_regular_file
from kimi_repl.planner import DEFAULT_REPLY_CAP
from kimi_repl.values import (
    check_api_key,
    check_model_name,
    parse_base_url,
    parse_on_off,
    parse_reply_tokens,
    parse_retries,
    parse_temperature,
    parse_timeout,
    public_url,
)

APP_NAME = "kimi-repl"
DEFAULT_BASE_URL = "https://api.moonshot.cn/v1"
MOONSHOT_HOSTS = ("api.moonshot.cn", "api.moonshot.ai")
API_KEY_VARIABLES = ("MOONSHOT_API_KEY", "KIMI_API_KEY")
MAX_DOTENV_BYTES = 1_048_576
MAX_CONFIG_BYTES = 1_048_576


class ConfigError(UserError):
    """A setting is missing or wrong."""


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
    base_url_source: str = "the default"
    """Where ``base_url`` came from: a flag, a variable (and its ``.env`` file), the config file, the default."""
    allow_http: bool = False
    notes: list[str] = field(default_factory=list)
    """Warnings found while reading the settings (a ``.env`` passed over, and why), to show at start-up."""

    def destination(self) -> str | None:
        """Where requests go and who said so, when it is not Moonshot's default (for the banner and /model)."""
        if self.base_url == DEFAULT_BASE_URL:
            return None
        return f"Requests go to {public_url(self.base_url)} ({self.base_url_source})."

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


# -- the files -------------------------------------------------------------------------------------


class DotEnv(NamedTuple):
    """The ``.env`` file read (None: none), its values, and why a file was passed over (if one was)."""

    path: Path | None
    values: dict[str, str]
    notes: tuple[str, ...] = ()


def find_dotenv(start: Path | None = None, *, home: Path | None = None) -> DotEnv:
    """The nearest ``.env`` file, searching from ``start`` (the working directory) upwards, and its values.

    The search stops at the user's home folder and at the root of a repository (a folder with ``.git``):
    a ``.env`` further up belongs to somebody else's project, or to nobody. The nearest file is read only if
    it is the user's own and nobody else can write it (ssh's rule for its files): otherwise it is passed
    over, with a note saying why, and the search stops there. Values are taken literally (``${VAR}`` is not
    expanded: a ``.env`` must not be able to copy other secrets from the environment into a URL). A folder
    named ``.env`` (a virtual environment) is passed over, as python-dotenv does.

    Raises:
        ConfigError: the nearest ``.env`` is not a regular file (a FIFO would hang start-up), cannot be read,
            is too big or is not UTF-8 text.
    """
    here = (start if start is not None else Path.cwd()).absolute()
    home = home if home is not None else Path.home()
    for folder in (here, *here.parents):
        candidate = folder / ".env"
        try:
            found = os.path.lexists(candidate) and not candidate.is_dir()
        except OSError:
            found = False
        if found:
            return _read_dotenv_file(candidate)
        if folder == home or _is_repository_root(folder):
            break
    return DotEnv(None, {})


def _is_repository_root(folder: Path) -> bool:
    try:
        return os.path.lexists(folder / ".git")
    except OSError:
        return False


def _read_dotenv_file(path: Path) -> DotEnv:
    with contextlib.suppress(OSError):  # first who owns it: someone else's FIFO or unreadable file is theirs
        why = changeable_by_others(os.stat(path))
        if why:
            return DotEnv(None, {}, (f"⚠ {path} {why}: it is not read{_fix_hint(why, path)}.",))
    try:
        data = read_regular_file(path, max_bytes=MAX_DOTENV_BYTES, kind="a .env file", error=ConfigError, private=True)
    except NotPrivate as refusal:
        return DotEnv(None, {}, (f"⚠ {refusal}: it is not read{_fix(refusal, path)}.",))
    text = _decode(path, data)
    import io

    from dotenv import dotenv_values  # only when there is a file: it is not free to import

    values = dotenv_values(stream=io.StringIO(text), interpolate=False)
    return DotEnv(path, {k: v for k, v in values.items() if v is not None})


def read_dotenv(start: Path | None = None, *, home: Path | None = None) -> dict[str, str]:
    """The values of :func:`find_dotenv` (none when it passed a file over)."""
    return find_dotenv(start, home=home).values


@dataclass
class ConfigFile:
    """``config.toml``: top-level settings and ``[roles.NAME]`` tables, checked."""

    path: Path | None = None
    values: dict[str, Any] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)


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
    text = _read_text(path, "a config file", MAX_CONFIG_BYTES)
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
        if key == "roles":
            continue
        parse = CONFIG_KEYS.get(key)
        if key.lower() in ("api_key", "key", "moonshot_api_key", "kimi_api_key"):
            raise where.error(
                key, "the API key is never read from config.toml: set MOONSHOT_API_KEY (or put it in .env)"
            )
        if parse is None:
            known = f"known: {', '.join(CONFIG_KEYS)}, [roles.NAME]"
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
    return ConfigFile(path, values, roles)


def _read_text(path: Path, kind: str, max_bytes: int) -> str:
    try:
        data = read_regular_file(path, max_bytes=max_bytes, kind=kind, error=ConfigError, private=True)
    except NotPrivate as refusal:
        raise ConfigError(f"{refusal}: it is not used{_fix(refusal, path)}") from None
    return _decode(path, data)


def _fix(refusal: NotPrivate, path: Path) -> str:
    """How to make a refused file usable, when it is the user's own."""
    return _fix_hint(str(refusal), path)


def _fix_hint(why: str, path: Path) -> str:
    return f" (chmod go-w {path} makes it yours alone)" if "can be changed" in why else ""


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path} is not UTF-8 text (byte {error.start + 1} cannot be read)") from None


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
}
ROLE_KEYS = ("system", "model", "temperature", "thinking")


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
