"""Where the key goes is the user's decision: which ``.env`` and config files are read, which hosts and schemes
are used, and what is shown about it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from kimi_repl.config import DEFAULT_BASE_URL, is_loopback, load_settings
from kimi_repl.configfile import read_config
from kimi_repl.display import Display
from kimi_repl.envfile import find_dotenv, read_dotenv
from kimi_repl.errors import ConfigError
from tests.helpers import CapturedDisplay

ROOT = hasattr(os, "getuid") and os.getuid() == 0


OTHER_UID = 65534


needs_owners = pytest.mark.skipif(not hasattr(os, "getuid"), reason="no file owners here")


def dotenv(folder: Path, text: str, mode: int = 0o600) -> Path:
    path = folder / ".env"
    path.write_text(text)
    path.chmod(mode)
    return path


@needs_owners
@pytest.mark.skipif(not ROOT, reason="giving a file to another user needs root")
def test_a_dotenv_owned_by_someone_else_is_not_read(tmp_path: Path) -> None:
    path = dotenv(tmp_path, "MOONSHOT_BASE_URL=https://attacker.example/v1\n")
    os.chown(path, OTHER_UID, OTHER_UID)
    (tmp_path / "sub").mkdir()
    found = find_dotenv(tmp_path / "sub")
    assert found.values == {} and found.path is None
    assert found.notes == (f"⚠ {path} belongs to user {OTHER_UID}, not to you: it is not read.",)


@needs_owners
@pytest.mark.parametrize("mode", [0o666, 0o620, 0o602])
def test_a_dotenv_others_can_write_is_not_read(tmp_path: Path, mode: int) -> None:
    path = dotenv(tmp_path, "MOONSHOT_API_KEY=sk-planted-key-0123456789\n", mode)
    found = find_dotenv(tmp_path)
    assert found.values == {}
    assert f"chmod go-w {path}" in found.notes[0]
    with pytest.raises(ConfigError) as refused:
        load_settings(environ={}, dotenv=found)
    assert "no API key" in str(refused.value) and f"{path} can be changed by" in str(refused.value)


def test_the_search_stops_at_home_and_at_a_repository_root(tmp_path: Path) -> None:
    dotenv(tmp_path, "MOONSHOT_MODEL=above-home\n")
    home = tmp_path / "home"
    work = home / "projects" / "app" / "src"
    work.mkdir(parents=True)
    assert read_dotenv(work, home=home) == {}
    dotenv(home, "MOONSHOT_MODEL=at-home\n")
    assert read_dotenv(work, home=home) == {"MOONSHOT_MODEL": "at-home"}
    (home / "projects" / "app" / ".git").mkdir()
    assert read_dotenv(work, home=home) == {}  # the repository's root has none: its parents are not its
    dotenv(home / "projects" / "app", "MOONSHOT_MODEL=in-repo\n")
    assert read_dotenv(work, home=home) == {"MOONSHOT_MODEL": "in-repo"}


def test_dotenv_values_are_taken_literally(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-secret")
    dotenv(tmp_path, "MOONSHOT_BASE_URL=https://x.example/${GITHUB_TOKEN}/v1\nA=$GITHUB_TOKEN\n")
    assert read_dotenv(tmp_path) == {"MOONSHOT_BASE_URL": "https://x.example/${GITHUB_TOKEN}/v1", "A": "$GITHUB_TOKEN"}


def test_a_dotenv_may_point_elsewhere_only_with_its_own_key(tmp_path: Path) -> None:
    path = dotenv(tmp_path, "MOONSHOT_BASE_URL=https://attacker.example/v1\n")
    with pytest.raises(ConfigError) as refused:
        load_settings(environ={"MOONSHOT_API_KEY": "sk-mine-0123456789abcdef"}, dotenv=find_dotenv(tmp_path))
    message = str(refused.value)
    assert f"MOONSHOT_BASE_URL in {path} sends requests to attacker.example" in message
    assert "the API key is MOONSHOT_API_KEY" in message and "\n" not in message
    dotenv(tmp_path, "MOONSHOT_BASE_URL=https://gateway.example/v1\nMOONSHOT_API_KEY=sk-gateway-key-0123456\n")
    own = load_settings(environ={"MOONSHOT_API_KEY": ""}, dotenv=find_dotenv(tmp_path))
    assert own.base_url == "https://gateway.example/v1" and not own.base_url_trusted
    assert own.destination() == f"Requests go to https://gateway.example/v1 (MOONSHOT_BASE_URL in {path})."
    # This machine is no exception: another user may listen on a local port.
    local = dotenv(tmp_path, "MOONSHOT_BASE_URL=http://127.0.0.1:8080/v1\n")
    with pytest.raises(ConfigError, match="only with a key of its own"):
        load_settings(environ={"MOONSHOT_API_KEY": "sk-x"}, dotenv=find_dotenv(tmp_path))
    dotenv(tmp_path, "MOONSHOT_BASE_URL=http://127.0.0.1:8080/v1\nMOONSHOT_API_KEY=sk-local\n")
    settings = load_settings(environ={}, dotenv=find_dotenv(tmp_path))
    assert settings.base_url_source == f"MOONSHOT_BASE_URL in {local}"
    assert not settings.base_url_trusted  # nothing goes there before the user has seen where
    moonshot = dotenv(tmp_path, "MOONSHOT_BASE_URL=https://api.moonshot.ai/v1\n")
    assert load_settings(environ={"MOONSHOT_API_KEY": "sk-x"}, dotenv=find_dotenv(moonshot.parent)).base_url_trusted


@pytest.mark.parametrize(
    "url", ["http://example.com/v1", "http://10.0.0.5:8080/v1", "http://127.0.0.1.nip.io/v1", "http://[::2]/v1"]
)
def test_plain_http_to_another_machine_needs_an_explicit_yes(url: str) -> None:
    environ = {"MOONSHOT_API_KEY": "sk-x", "MOONSHOT_BASE_URL": url}
    with pytest.raises(ConfigError) as refused:
        load_settings(environ=environ, dotenv={})
    message = str(refused.value)
    assert "MOONSHOT_BASE_URL is plain http:// to another machine" in message and "--allow-http" in message
    assert load_settings(environ=environ, dotenv={}, allow_http=True).base_url == url
    assert load_settings(environ={**environ, "MOONSHOT_ALLOW_HTTP": "1"}, dotenv={}).allow_http
    with pytest.raises(ConfigError):  # a .env may not lower the guard
        load_settings(
            environ={"MOONSHOT_API_KEY": "sk-x"}, dotenv={"MOONSHOT_BASE_URL": url, "MOONSHOT_ALLOW_HTTP": "1"}
        )


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8765/v1", True),
        ("http://127.5.6.7/v1", True),
        ("http://localhost:1234/v1", True),
        ("http://api.attacker.localhost:1234/v1", False),
        ("http://[::1]:8080/v1", True),
        ("http://localhost.example.com/v1", False),
        ("http://128.0.0.1/v1", False),
    ],
)
def test_loopback_is_this_machine_only(url: str, local: bool) -> None:
    assert is_loopback(url) is local


def test_the_default_destination_is_not_announced() -> None:
    settings = load_settings(environ={"MOONSHOT_API_KEY": "sk-x"}, dotenv={})
    assert settings.base_url == DEFAULT_BASE_URL and settings.destination() is None
    flagged = load_settings(base_url="https://api.moonshot.ai/v1", environ={"MOONSHOT_API_KEY": "sk-x"}, dotenv={})
    assert flagged.destination() == "Requests go to https://api.moonshot.ai/v1 (--base-url)."


def test_user_and_password_in_the_base_url_are_not_announced() -> None:
    settings = load_settings(environ={"MOONSHOT_API_KEY": "sk-x", "MOONSHOT_BASE_URL": "https://u:p4ss@h.example/v1"})
    assert settings.destination() == "Requests go to https://h.example/v1 (MOONSHOT_BASE_URL)."
    assert "p4ss" not in repr(settings)


@needs_owners
def test_a_config_file_others_can_write_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('base_url = "https://attacker.example/v1"\n')
    path.chmod(0o666)
    with pytest.raises(ConfigError) as refused:
        read_config(path)
    assert str(refused.value) == (
        f"{path} can be changed by its group and others (mode 0666): it is not used "
        f"(chmod go-w {path} makes it yours alone)"
    )


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 5000 + "]" * 5000,
        "[" + "a." * 5000 + "a]",
        "x = {" + "a = {" * 3000 + "}" * 3001,
        "\n" * 200_000 + "model = 5",
        "k" * 200_000 + " = 1",
        "[roles." + "r" * 100_000 + "]\nmodel = 1",
        'model = "' + "m" * 500_000 + '"',
        "\x00\xff",
    ],
)
def test_a_broken_config_of_any_shape_is_one_line(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(text.encode("utf-8", "surrogateescape") if "\xff" not in text else b"\x00\xff")
    path.chmod(0o600)
    with pytest.raises(ConfigError) as refused:
        read_config(path)
    message = str(refused.value)
    assert "\n" not in message and len(message) < 500 and message.startswith(str(path))


@hypothesis_settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from("[]{}=.\"' \nabc1truefalse#-_,"), max_size=200))
def test_read_config_raises_nothing_but_a_config_error(text: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.toml"
        path.write_text(text)
        path.chmod(0o600)
        try:
            read_config(path)
        except ConfigError as error:
            assert "\n" not in str(error)


def test_messages_never_show_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    key = 'sk-"quoted\\key-0123456789'
    display = CapturedDisplay()
    display.secret = Display(secret=key).secret
    display.error(f"the server said {key!r} and {key}")
    display.rows([("a", key)])
    display.text(f"system: {key}")
    assert "quoted" not in display.output and display.output.count("[API key removed]") == 4


@needs_owners
@pytest.mark.skipif(not ROOT, reason="giving a file to another user needs root")
def test_someone_elses_fifo_or_unreadable_dotenv_is_passed_over_not_fatal(tmp_path: Path) -> None:
    fifo = tmp_path / "shared" / ".env"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    os.chown(fifo, OTHER_UID, OTHER_UID)
    found = find_dotenv(tmp_path / "shared")
    assert found.values == {} and f"{fifo} belongs to user {OTHER_UID}" in found.notes[0]


def test_a_dotenv_url_on_this_machine_needs_its_own_key_too(tmp_path: Path) -> None:
    dotenv(tmp_path, "MOONSHOT_BASE_URL=http://127.0.0.1:31337/v1\n")
    with pytest.raises(ConfigError, match="only with a key of its own"):
        load_settings(environ={"MOONSHOT_API_KEY": "sk-mine-0123456789abcdef"}, dotenv=find_dotenv(tmp_path))


def test_folders_an_older_version_left_open_are_made_private(isolated_user: Path) -> None:
    from kimi_repl.config import history_file, state_dir

    folder = state_dir()
    folder.chmod(0o755)
    (folder / "history").write_text("")
    (folder / "history").chmod(0o644)
    history = history_file()
    assert stat.S_IMODE(state_dir().stat().st_mode) == 0o700 and stat.S_IMODE(history.stat().st_mode) == 0o600
