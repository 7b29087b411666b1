"""Trust, end to end: the installed kimi-repl in a pty, with planted files and "remote" hosts.

A remote host is a made-up name that ``tests/e2e/hosts/sitecustomize.py`` resolves to 127.0.0.1 inside the program
under test: requests reach the fake server on loopback and nothing leaves the machine.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.fake import TEST_KEY, FakeMoonshot
from tests.helpers import Launch, clean_environment, installed_command

HOSTS = str(Path(__file__).parent / "hosts")


REMOTE = "kimi-gateway.test"


def test_the_banner_says_where_requests_go_when_it_is_not_moonshot(launch: Launch, server: FakeMoonshot) -> None:
    term = launch()
    term.wait_for_prompt(1)
    assert f"Requests go to {server.base_url} (MOONSHOT_BASE_URL)." in term.text()
    term.line("/model")
    term.wait_for_prompt(2)
    assert term.text().count(f"Requests go to {server.base_url}") == 2
    term.line("/exit")
    assert term.exit_status() == 0


def test_a_remote_host_from_a_dotenv_gets_nothing_before_the_first_message(
    launch: Launch, server: FakeMoonshot, isolated_user: Path
) -> None:
    work = isolated_user.parent / "work"
    url = f"http://{REMOTE}:{server.port}/v1"
    (work / ".env").write_text(f"MOONSHOT_BASE_URL={url}\nMOONSHOT_API_KEY={TEST_KEY}\n")
    (work / ".env").chmod(0o600)
    term = launch(
        cols=250,
        MOONSHOT_BASE_URL="",
        MOONSHOT_API_KEY="",
        MOONSHOT_ALLOW_HTTP="1",
        PYTHONPATH=HOSTS,
        KIMI_REPL_TEST_HOSTS=REMOTE,
    )
    term.wait_for_prompt(1)
    assert f"⚠ Requests go to {url} (MOONSHOT_BASE_URL in {work / '.env'})." in term.text()
    time.sleep(2.5)  # the background warm-up has run by now
    assert server.requests == []
    term.line("hello over there")
    term.wait_for("Echo 1: hello over there")
    term.line("/exit")
    assert term.exit_status() == 0


def run(home: Path, *args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    environment = clean_environment(home, **env)
    return subprocess.run(
        [installed_command(), *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd or home.parent / "work",
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def test_plain_http_to_a_remote_host_is_refused_before_connecting(isolated_user: Path, server: FakeMoonshot) -> None:
    url = f"http://{REMOTE}:{server.port}/v1"
    refused = run(isolated_user, "-p", "hi", MOONSHOT_API_KEY=TEST_KEY, MOONSHOT_BASE_URL=url, PYTHONPATH=HOSTS)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "plain http:// to another machine (kimi-gateway.test)" in refused.stderr and "--allow-http" in refused.stderr
    assert server.requests == []
    allowed = run(
        isolated_user,
        "--allow-http",
        "-p",
        "hi",
        MOONSHOT_API_KEY=TEST_KEY,
        MOONSHOT_BASE_URL=url,
        PYTHONPATH=HOSTS,
        KIMI_REPL_TEST_HOSTS=REMOTE,
    )
    assert allowed.returncode == 0 and "Echo 1: hi" in allowed.stdout, allowed.stderr


def test_a_planted_dotenv_cannot_redirect_the_key_or_copy_other_secrets(
    isolated_user: Path, server: FakeMoonshot, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    project = shared / "project"
    project.mkdir(parents=True)
    shared.chmod(0o777)
    planted = shared / ".env"
    planted.write_text(f"MOONSHOT_BASE_URL=http://{REMOTE}:{server.port}/${{GITHUB_TOKEN}}/v1\n")
    planted.chmod(0o666)
    result = run(
        isolated_user,
        "-p",
        "hi",
        cwd=project,
        MOONSHOT_API_KEY=TEST_KEY,
        GITHUB_TOKEN="ghp-do-not-send",
        PYTHONPATH=HOSTS,
        KIMI_REPL_TEST_HOSTS=REMOTE,
        MOONSHOT_ALLOW_HTTP="1",
    )
    # the planted file is passed over (others can write it), so the default host is used: unreachable here
    assert f"{planted} can be changed by its group and others (mode 0666): it is not read" in result.stderr
    assert server.requests == []
    owned = shared / ".env"
    owned.chmod(0o600)  # now it is the user's own: it still may not send the environment's key elsewhere
    again = run(
        isolated_user,
        "-p",
        "hi",
        cwd=project,
        MOONSHOT_API_KEY=TEST_KEY,
        GITHUB_TOKEN="ghp-do-not-send",
        PYTHONPATH=HOSTS,
        KIMI_REPL_TEST_HOSTS=REMOTE,
        MOONSHOT_ALLOW_HTTP="1",
    )
    assert again.returncode == 2 and "may point requests at another host only with a key of its own" in again.stderr
    assert server.requests == [] and "ghp-do-not-send" not in again.stderr + again.stdout
    if hasattr(os, "getuid") and os.getuid() == 0:
        os.chown(owned, 65534, 65534)
        other = run(isolated_user, "-p", "hi", cwd=project, MOONSHOT_API_KEY=TEST_KEY, PYTHONPATH=HOSTS)
        assert "belongs to user 65534, not to you: it is not read" in other.stderr
