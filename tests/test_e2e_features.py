"""End to end, in a pty: web search, pictures, the editor, the config file and roles, finding sessions."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import Launch
from tests.fake_server import TEST_KEY, FakeMoonshot
from tests.terminal import clean_environment, installed_command
from tests.test_features import CONFIG, png_bytes, write_config


def test_a_web_search_round_trip_then_web_off(launch: Launch, server: FakeMoonshot) -> None:
    term = launch("--web", "--thinking", "off")
    term.wait_for("web search on")
    term.wait_for_prompt(1)
    term.line("weather in Beijing")
    term.wait_for("⌕ Searching the web for “weather in Beijing”")
    term.wait_for("Echo 1: weather in Beijing")
    term.wait_for("1 web search")
    term.wait_for_prompt(2)
    assert server.chat_requests()[-1]["messages"][-1]["role"] == "tool"
    term.line("/web off")
    term.wait_for("Web search: off")
    term.line("no search now")
    term.wait_for("Echo 2: no search now")
    assert "tools" not in server.chat_requests()[-1]


def test_a_picture_on_a_vision_model_and_on_a_text_only_one(
    launch: Launch, server: FakeMoonshot, tmp_path: Path
) -> None:
    (tmp_path / "work" / "cat.png").write_bytes(png_bytes())
    term = launch("-m", "moonshot-v1-8k")
    term.wait_for_prompt(1)
    term.line("/image cat.png")
    term.wait_for("moonshot-v1-8k takes no pictures: /model moonshot-v1-8k-vision-preview does.")
    term.wait_for_prompt(2)
    term.line("/model kimi-k2.6")
    term.wait_for("kimi-k2.6 ›")
    term.line("/image cat.png")
    term.wait_for("Attached cat.png (image/png")
    term.line("what is it?")
    term.wait_for("Echo 1: what is it? [1 picture]")
    parts = server.chat_requests()[-1]["messages"][-1]["content"]
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,iVBOR")


def test_ctrl_x_ctrl_e_opens_the_editor_and_the_text_comes_back(
    launch: Launch, server: FakeMoonshot, tmp_path: Path
) -> None:
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\nprintf "%s\\nwritten in the editor\\n" "$(cat "$1")" > "$1"\n')
    editor.chmod(0o755)
    term = launch(EDITOR=str(editor))
    term.wait_for_prompt(1)
    term.type("draft")
    term.type("\x18\x05")  # Ctrl-X Ctrl-E
    term.wait_for("written in the editor")
    assert server.chat_requests() == []  # back at the prompt, not sent
    term.line("")
    term.wait_for("Echo 1: draft")
    assert server.chat_requests()[-1]["messages"][-1]["content"] == "draft\nwritten in the editor"


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


def test_sessions_words_finds_the_right_ones_among_a_dozen(
    launch: Launch, server: FakeMoonshot, isolated_user: Path
) -> None:
    environment = clean_environment(isolated_user, MOONSHOT_BASE_URL=server.base_url, MOONSHOT_API_KEY=TEST_KEY)
    topics = [f"topic {n} about {'rust' if n % 3 == 0 else 'python'} and 第{n}章" for n in range(12)]
    for topic in topics:
        subprocess.run(
            [installed_command(), "-m", "moonshot-v1-8k", "-p", topic],
            env=environment,
            capture_output=True,
            check=True,
            timeout=30,
        )
    term = launch()
    term.wait_for_prompt(1)
    term.line("/sessions RUST 第")
    term.wait_for("Sessions that mention 'RUST' and '第'")
    term.wait_for_prompt(2)
    listed = term.text().rsplit("Sessions that mention", 1)[1]
    assert sorted(line.split("topic ")[1].split()[0] for line in listed.splitlines() if "topic " in line) == [
        "0",
        "3",
        "6",
        "9",
    ]
    shell = subprocess.run(
        [installed_command(), "--sessions", "python", "第7章"], env=environment, capture_output=True, text=True
    )
    assert shell.returncode == 0 and "topic 7 about python" in shell.stdout and "topic 8" not in shell.stdout
