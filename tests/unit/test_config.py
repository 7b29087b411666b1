"""Settings precedence, the missing-key message, user folders."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from kimi_repl.config import DEFAULT_BASE_URL, Settings, history_file, load_settings
from kimi_repl.configfile import ConfigFile, read_config
from kimi_repl.envfile import read_dotenv
from kimi_repl.errors import ConfigError
from kimi_repl.planner import DEFAULT_REPLY_CAP
from kimi_repl.values import parse_base_url, parse_retries, parse_temperature, parse_timeout
from tests.helpers import CONFIG, write_config


def test_flags_beat_environment_beat_dotenv_beat_defaults() -> None:
    dotenv = {
        "MOONSHOT_API_KEY": "sk-from-dotenv",
        "MOONSHOT_MODEL": "moonshot-v1-8k",
        "MOONSHOT_BASE_URL": "https://d",
    }
    env = {"MOONSHOT_MODEL": "moonshot-v1-32k"}
    settings = load_settings(environ=env, dotenv=dotenv)
    assert settings.api_key == "sk-from-dotenv"
    assert settings.api_key_source == "MOONSHOT_API_KEY in .env"
    assert settings.model == "moonshot-v1-32k"
    assert settings.base_url == "https://d"
    flagged = load_settings(model="kimi-latest", base_url="https://flag/v1/", environ=env, dotenv=dotenv)
    assert flagged.model == "kimi-latest"
    assert flagged.base_url == "https://flag/v1"


def test_defaults_when_only_a_key_is_given() -> None:
    settings = load_settings(environ={"MOONSHOT_API_KEY": "sk-x"}, dotenv={})
    assert (settings.base_url, settings.model, settings.temperature) == (DEFAULT_BASE_URL, None, None)
    assert (settings.thinking, settings.max_tokens) == (None, DEFAULT_REPLY_CAP)


def test_thinking_and_reply_budget_come_from_flags_environment_or_dotenv() -> None:
    dotenv = {"MOONSHOT_API_KEY": "sk-x", "MOONSHOT_THINKING": "off", "MOONSHOT_MAX_TOKENS": "4096"}
    settings = load_settings(environ={}, dotenv=dotenv)
    assert (settings.thinking, settings.max_tokens) == (False, 4096)
    flagged = load_settings(thinking=True, max_tokens=100, environ={"MOONSHOT_MAX_TOKENS": "9"}, dotenv=dotenv)
    assert (flagged.thinking, flagged.max_tokens) == (True, 100)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MOONSHOT_MAX_TOKENS", "0"),
        ("MOONSHOT_MAX_TOKENS", "1.5"),
        ("MOONSHOT_MAX_TOKENS", "nan"),
        ("MOONSHOT_MAX_TOKENS", "lots"),
        ("MOONSHOT_THINKING", "maybe"),
        ("MOONSHOT_MODEL", "kimi\u200b-k2.6"),
        ("MOONSHOT_MODEL", "kimi k2"),
    ],
)
def test_bad_values_in_the_environment_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name) as caught:
        load_settings(environ={"MOONSHOT_API_KEY": "sk-x", name: value.encode().decode("unicode_escape")}, dotenv={})
    assert "\n" not in str(caught.value)


def test_kimi_api_key_is_accepted() -> None:
    settings = load_settings(environ={"KIMI_API_KEY": "sk-kimi"}, dotenv={})
    assert settings.api_key == "sk-kimi"
    assert settings.api_key_source == "KIMI_API_KEY"


def test_missing_key_names_the_variable_and_the_dotenv_line() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={}, dotenv={})
    message = str(caught.value)
    assert "MOONSHOT_API_KEY" in message and "MOONSHOT_API_KEY=sk-..." in message and "\n" not in message


def test_dotenv_file_is_found_from_the_working_directory_upwards(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("MOONSHOT_API_KEY=sk-file\nMOONSHOT_MODEL=kimi-latest\n")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert read_dotenv(nested)["MOONSHOT_MODEL"] == "kimi-latest"


def test_dotenv_is_read_from_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("MOONSHOT_API_KEY=sk-cwd\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings(environ={}).api_key == "sk-cwd"


def test_settings_repr_hides_the_key() -> None:
    settings = load_settings(environ={"MOONSHOT_API_KEY": "sk-secret-value"}, dotenv={})
    assert "sk-secret-value" not in repr(settings)


def test_bad_number_in_environment_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="MOONSHOT_TIMEOUT"):
        load_settings(environ={"MOONSHOT_API_KEY": "sk-x", "MOONSHOT_TIMEOUT": "soon"}, dotenv={})


def test_history_file_is_private(isolated_user: Path) -> None:
    path = history_file()
    assert str(path).startswith(str(isolated_user))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("text", ["abc", "-0.1", "1.01", "nan", "inf", ""])
def test_temperature_outside_moonshot_range_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_temperature(text)


@pytest.mark.parametrize(("text", "value"), [("0", 0.0), ("0.3", 0.3), ("1", 1.0)])
def test_temperature_in_range_is_accepted(text: str, value: float) -> None:
    assert parse_temperature(text) == value


def test_a_dotenv_that_is_a_fifo_is_refused_without_waiting(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / ".env")
    with pytest.raises(ConfigError, match="is a named pipe"):
        read_dotenv(tmp_path)


def test_a_dotenv_folder_is_a_virtual_environment_and_is_passed_over(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("MOONSHOT_MODEL=kimi-k2.5\n")
    nested = tmp_path / "project"
    (nested / ".env").mkdir(parents=True)  # python -m venv .env
    assert read_dotenv(nested) == {"MOONSHOT_MODEL": "kimi-k2.5"}


def test_an_unreadable_or_undecodable_dotenv_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"MOONSHOT_API_KEY=\xff\n")
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        read_dotenv(tmp_path)
    real_open = os.open

    def refuse(name: Any, *args: Any, **kwargs: Any) -> int:
        if str(name) == str(path):
            raise PermissionError(13, "Permission denied")
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(ConfigError, match="cannot be read"):
        read_dotenv(tmp_path)


@pytest.mark.parametrize(
    ("parse", "good", "bad"),
    [
        (parse_timeout, [("0.5", 0.5), ("180", 180.0)], ["0", "-1", "nan", "inf", "1e309", "soon", "100000"]),
        (parse_retries, [("0", 0), ("3", 3), ("2.0", 2)], ["1.5", "-1", "nan", "inf", "11", "x"]),
        (
            parse_base_url,
            [
                ("https://api.moonshot.ai/v1/", "https://api.moonshot.ai/v1"),
                ("http://[::1]:8080/v1", "http://[::1]:8080/v1"),
            ],
            ["http://[::1", "ftp://x", "moonshot.cn", "http://", "http://x:99999", "http://a b", "https://x\x1b"],
        ),
    ],
)
def test_numbers_and_urls_are_checked(parse: Any, good: list[tuple[str, Any]], bad: list[str]) -> None:
    for text, value in good:
        assert parse(text) == value
    for text in bad:
        with pytest.raises(ValueError):
            parse(text)


def test_the_config_file_gives_defaults_below_everything_else(isolated_user: Path) -> None:
    write_config(isolated_user, CONFIG)
    settings = load_settings(environ={"MOONSHOT_API_KEY": "sk-x"}, dotenv={})
    assert (settings.model, settings.temperature, settings.system) == ("moonshot-v1-32k", 0.2, "Be brief.")
    assert (settings.base_url, settings.thinking, settings.web) == ("http://127.0.0.1:9/v1", False, True)
    assert (settings.max_tokens, settings.timeout, settings.max_retries) == (4000, 30.0, 1)
    above = load_settings(
        environ={"MOONSHOT_API_KEY": "sk-x", "MOONSHOT_MODEL": "kimi-k2.5", "MOONSHOT_TIMEOUT": "5"},
        dotenv={"MOONSHOT_MAX_TOKENS": "900", "MOONSHOT_MODEL": "kimi-k3"},
        temperature=0.9,
    )
    assert (above.model, above.timeout, above.max_tokens, above.temperature) == ("kimi-k2.5", 5.0, 900, 0.9)


def test_a_role_sets_what_no_flag_sets(isolated_user: Path) -> None:
    write_config(isolated_user, CONFIG)
    settings = load_settings(role="translator", environ={"MOONSHOT_API_KEY": "sk-x"}, dotenv={})
    assert (settings.model, settings.temperature, settings.system) == ("moonshot-v1-8k", 0.1, "Translate into English.")
    flagged = load_settings(role="translator", model="kimi-k2.6", environ={"MOONSHOT_API_KEY": "sk-x"}, dotenv={})
    assert flagged.model == "kimi-k2.6" and flagged.temperature == 0.1
    with pytest.raises(ConfigError, match=r"no role 'nope' in the config file \(roles: deep, translator\)"):
        load_settings(role="nope", environ={"MOONSHOT_API_KEY": "sk-x"}, dotenv={})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('model = "kimi-k2.6"\ntemperature = 3\n', "line 2: Temperature must be between 0 and 1"),
        ('model = "kimi\n', "Illegal character"),
        ('modle = "kimi-k2.6"\n', "line 1: unknown setting 'modle'"),
        ('\n\n[roles.a]\ntemperature = "hot"\n', "line 4: Temperature must be a number"),
        ('[roles.a]\ncolour = "red"\n', "line 2: unknown setting 'colour' in role 'a'"),
        ("max_tokens = 1.5\n", "line 1: max_tokens must be a whole number"),
        ('model = "kimi k2"\n', "line 1: model: A model name cannot contain a space"),
        ('web = "sometimes"\n', "line 1: web takes on or off"),
        ('base_url = "ftp://x"\n', "line 1: base_url must be an http"),
        ("roles = 3\n", "roles must be tables"),
        ('titles = "ai"\n', "line 1: titles is one of 'local', 'model', not 'ai'"),
    ],
)
def test_a_broken_config_file_is_one_line_naming_the_file_and_the_line(
    isolated_user: Path, text: str, message: str
) -> None:
    path = write_config(isolated_user, text)
    with pytest.raises(ConfigError) as caught:
        read_config()
    assert str(caught.value).startswith(str(path)) and message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_no_config_file_is_no_config(isolated_user: Path) -> None:
    assert read_config() == ConfigFile()


def test_private_files_stay_private(isolated_user: Path) -> None:  # the config folder is the user's own
    path = write_config(isolated_user, CONFIG)
    assert stat.S_ISREG(os.stat(path).st_mode)


def test_the_key_in_config_toml_is_refused_with_where_it_goes(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('api_key = "sk-x"\n')
    path.chmod(0o600)
    with pytest.raises(ConfigError, match=r"never read from config\.toml: set MOONSHOT_API_KEY"):
        read_config(path)


def test_the_banner_says_which_dotenv_the_key_came_from() -> None:
    assert Settings(api_key="k", api_key_source="MOONSHOT_API_KEY").key_origin() is None
    origin = Settings(api_key="k", api_key_source="MOONSHOT_API_KEY in /work/repo/.env").key_origin()
    assert origin == "The API key is MOONSHOT_API_KEY in /work/repo/.env."


def test_titles_come_from_the_config_file(isolated_user: Path) -> None:
    environ = {"MOONSHOT_API_KEY": "sk-x"}
    assert load_settings(environ=environ, dotenv={}).titles == "local"
    write_config(isolated_user, 'titles = "model"\n')
    assert load_settings(environ=environ, dotenv={}).titles == "model"
