"""End to end: the config file and roles, and a broken one."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.fake import TEST_KEY, FakeMoonshot
from tests.helpers import CONFIG, Launch, clean_environment, installed_command, write_config


def test_config_defaults_environment_over_config_and_roles(
    launch: Launch, server: FakeMoonshot, isolated_user: Path
) -> None:
    write_config(isolated_user, CONFIG.replace("http://127.0.0.1:9/v1", server.base_url))
    term = launch(MOONSHOT_BASE_URL="")  # the base URL comes from the config file
    term.wait_for("moonshot-v1-32k ›")
    term.line("/system")
    term.wait_for("Be brief.")
    term.line("/role translator")
    term.wait_for("Role translator: model moonshot-v1-8k")
    term.wait_for("moonshot-v1-8k ›")
    term.line("hi")
    term.wait_for("Echo 1: hi")
    asked = server.chat_requests()[-2]  # web = true in the config: the model searched first
    assert (asked["model"], asked["temperature"], asked["max_completion_tokens"]) == ("moonshot-v1-8k", 0.1, 4000)
    assert asked["messages"][0]["content"] == "Translate into English." and asked["tools"]
    term.line("/role clear")
    term.wait_for("moonshot-v1-32k ›")

    over = launch("--role", "translator", "-m", "kimi-k2.5", MOONSHOT_BASE_URL="", MOONSHOT_MODEL="kimi-k3")
    over.wait_for("kimi-k2.5 ›")  # the flag wins over the role, the role over the environment
    env_only = launch(MOONSHOT_BASE_URL="", MOONSHOT_MODEL="kimi-k3")
    env_only.wait_for("kimi-k3 ›")  # the environment wins over the config file


def test_a_broken_config_file_is_one_line_and_exit_two(isolated_user: Path, server: FakeMoonshot) -> None:
    path = write_config(isolated_user, 'model = "kimi-k2.6"\n\n[roles.writer]\ntemperature = 7\n')
    environment = clean_environment(isolated_user, MOONSHOT_BASE_URL=server.base_url, MOONSHOT_API_KEY=TEST_KEY)
    result = subprocess.run(
        [installed_command(), "-p", "hi"], capture_output=True, text=True, env=environment, timeout=30
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"kimi-repl: {path}, line 4: Temperature must be between 0 and 1")


def test_a_configured_price_shows_what_each_reply_and_the_session_cost(
    launch: Launch, server: FakeMoonshot, isolated_user: Path
) -> None:
    write_config(isolated_user, '[prices."kimi-k2.6"]\ninput = 4\ncached = 1\noutput = 16\ncurrency = "CNY"\n')
    term = launch("-m", "kimi-k2.6", cols=140)
    term.wait_for("kimi-k2.6 ›")
    term.line("hello")
    term.wait_for("Echo 1: hello")
    term.wait_for("context (0%) · ¥0.00")  # the usage line ends with the reply's cost
    term.line("/model moonshot-v1-8k")
    term.wait_for("moonshot-v1-8k ›")
    term.line("and now")
    term.wait_for("Echo 2: and now")
    term.wait_for("cached ·")  # the prompt cache served the first exchange again
    term.line("/usage")
    term.wait_for("1 reply of models without a known price")
    assert "/ 8k context (" in term.log() and "8k context (1%) · ¥" not in term.log(), "no price: tokens only"


def test_a_working_folder_deleted_under_the_shell_is_no_traceback(isolated_user: Path, server: FakeMoonshot) -> None:
    gone = isolated_user.parent / "gone"
    gone.mkdir()
    environment = clean_environment(isolated_user, MOONSHOT_BASE_URL=server.base_url, MOONSHOT_API_KEY=TEST_KEY)
    script = f"cd {gone} && rmdir {gone} && exec {installed_command()} -p hi"
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=environment, timeout=30)
    assert "Traceback" not in result.stderr and result.returncode == 0, result.stderr
    assert "Echo 1: hi" in result.stdout
