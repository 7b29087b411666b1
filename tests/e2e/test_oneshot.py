"""One-shot mode through the installed command: -p and pipes, plain text or markdown, exit statuses."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.fake import TEST_KEY, FakeMoonshot, Script
from tests.helpers import Terminal, clean_environment, installed_command


def run(
    home: Path, server: FakeMoonshot, *args: str, stdin: str | None = None, key: str = TEST_KEY, **variables: str
) -> subprocess.CompletedProcess[str]:
    env = clean_environment(home, MOONSHOT_BASE_URL=server.base_url, **({"MOONSHOT_API_KEY": key} if key else {}))
    env.update(variables)
    return subprocess.run(
        [installed_command(), *args],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        cwd=home.parent / "work",
        timeout=60,
    )


def test_prompt_flag_prints_the_plain_reply_and_exits_zero(isolated_user: Path, server: FakeMoonshot) -> None:
    server.script(Script(text="# Title\n\n**bold** 中文\n"))
    result = run(isolated_user, server, "-p", "hello")
    assert (result.returncode, result.stdout, result.stderr) == (0, "# Title\n\n**bold** 中文\n", "")


def test_a_piped_question_is_answered(isolated_user: Path, server: FakeMoonshot) -> None:
    result = run(isolated_user, server, stdin="what is 2+2?\n")
    assert result.returncode == 0 and result.stdout == "Echo 1: what is 2+2?\n"


def test_prompt_and_piped_input_go_together(isolated_user: Path, server: FakeMoonshot) -> None:
    result = run(isolated_user, server, "-p", "Review this diff:", stdin="- old\n+ new\n")
    assert result.returncode == 0
    assert server.chat_requests()[-1]["messages"][-1]["content"] == "Review this diff:\n\n- old\n+ new"


def test_model_temperature_and_system_flags_apply(isolated_user: Path, server: FakeMoonshot) -> None:
    run(isolated_user, server, "-m", "moonshot-v1-8k", "-t", "0.1", "-s", "Be terse.", "-p", "hi")
    body = server.chat_requests()[-1]
    assert (body["model"], body["temperature"]) == ("moonshot-v1-8k", 0.1)
    assert body["messages"][0] == {"role": "system", "content": "Be terse."}


def test_an_api_error_exits_one_with_one_line_on_stderr(isolated_user: Path, server: FakeMoonshot) -> None:
    server.script(Script(status=500, times=3))
    result = run(isolated_user, server, "-p", "hi")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "server error (500)" in result.stderr
    assert "back at the prompt" not in result.stderr


def test_a_cut_reply_exits_one_after_printing_what_arrived(isolated_user: Path, server: FakeMoonshot) -> None:
    server.script(Script(text="partial answer here", chunk_chars=4, cut_after=2))
    result = run(isolated_user, server, "-p", "hi")
    assert result.returncode == 1 and result.stdout == "partial \n"
    assert "incomplete" in result.stderr


@pytest.mark.parametrize(
    ("args", "stdin", "key", "message"),
    [
        ((), "", TEST_KEY, "nothing to ask"),
        (("-p", "   "), None, TEST_KEY, "nothing to ask"),
        (("-t", "3", "-p", "hi"), None, TEST_KEY, "between 0 and 1"),
        (("-r", "no-such-session", "-p", "hi"), None, TEST_KEY, "no saved session"),
        (("-p", "hi"), None, "", "MOONSHOT_API_KEY"),
        (("--frobnicate",), None, TEST_KEY, "unrecognized arguments"),
        (("--max-tokens", "0", "-p", "hi"), None, TEST_KEY, "whole number of tokens"),
        (("--max-tokens", "1e9", "-p", "hi"), None, TEST_KEY, "whole number of tokens"),
        (("--thinking", "maybe", "-p", "hi"), None, TEST_KEY, "--thinking takes on or off"),
        (("-m", "kimi\u200bk2", "-p", "hi"), None, TEST_KEY, "invisible or control character"),
    ],
)
def test_bad_usage_or_configuration_exits_two(
    isolated_user: Path, server: FakeMoonshot, args: tuple[str, ...], stdin: str | None, key: str, message: str
) -> None:
    result = run(isolated_user, server, *args, stdin=stdin, key=key)
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr and server.chat_requests() == []


def test_continue_carries_the_last_session(isolated_user: Path, server: FakeMoonshot) -> None:
    run(isolated_user, server, "-p", "my name is Ada")
    result = run(isolated_user, server, "-c", "-p", "what is my name?")
    assert result.returncode == 0 and result.stdout == "Echo 2: what is my name?\n"
    assert [m["content"] for m in server.chat_requests()[-1]["messages"]] == [
        "my name is Ada",
        "Echo 1: my name is Ada",
        "what is my name?",
    ]


def test_in_a_terminal_the_reply_is_rendered_markdown(isolated_user: Path, server: FakeMoonshot) -> None:
    server.script(Script(text="Some **bold** text.\n\n```python\nprint('hi')\n```\n"))
    env = clean_environment(isolated_user, MOONSHOT_BASE_URL=server.base_url, MOONSHOT_API_KEY=TEST_KEY)
    term = Terminal(["-p", "show me"], env, cwd=isolated_user.parent / "work")
    try:
        assert term.exit_status() == 0
        text = term.text()
        assert "Some bold text." in text and "print('hi')" in text and "```" not in text
        assert "↑" in text and "prompt" in text  # the usage line
    finally:
        term.close()


def test_an_unwritable_home_still_answers_with_a_warning(isolated_user: Path, server: FakeMoonshot) -> None:
    blocked = isolated_user.parent / "not-a-folder"
    blocked.write_text("a file where the home folder should be")
    result = run(blocked, server, "-p", "hello")
    assert result.returncode == 0 and result.stdout == "Echo 1: hello\n"
    assert "Sessions cannot be saved" in result.stderr and "Traceback" not in result.stderr


def test_a_discontinued_model_exits_one_naming_the_current_models(isolated_user: Path, server: FakeMoonshot) -> None:
    result = run(isolated_user, server, "-m", "kimi-k2-turbo-preview", "-p", "hi")
    assert result.returncode == 1 and result.stdout == ""
    line = result.stderr.strip()
    assert "\n" not in line and "no model 'kimi-k2-turbo-preview'" in line
    assert "Current models: kimi-k2.6, kimi-k2.5" in line and "-m NAME" in line


def test_with_no_model_configured_one_shot_asks_the_servers_default(isolated_user: Path, server: FakeMoonshot) -> None:
    result = run(isolated_user, server, "-p", "hello")
    assert (result.returncode, result.stdout) == (0, "Echo 1: hello\n")
    body = server.chat_requests()[-1]
    assert (body["model"], body["max_completion_tokens"]) == ("kimi-k2.6", 32_768)


def test_thinking_and_the_budget_from_flags_and_the_environment(isolated_user: Path, server: FakeMoonshot) -> None:
    run(isolated_user, server, "--thinking", "off", "-p", "one", MOONSHOT_MAX_TOKENS="2000")
    run(isolated_user, server, "--max-tokens", "700", "-p", "two", MOONSHOT_THINKING="off")
    first, second = server.chat_requests()
    assert (first["thinking"], first["max_completion_tokens"]) == ({"type": "disabled"}, 2000)
    assert (second["thinking"], second["max_completion_tokens"]) == ({"type": "disabled"}, 700)


def test_the_older_lineup_in_one_shot(isolated_user: Path) -> None:
    with FakeMoonshot(lineup="legacy") as legacy:
        result = run(isolated_user, legacy, "-p", "hello")
        assert (result.returncode, result.stdout) == (0, "Echo 1: hello\n")
        assert legacy.chat_requests()[-1]["model"] == "kimi-k2-turbo-preview"


def test_a_reply_cut_short_exits_one_and_names_shell_ways_out(isolated_user: Path, server: FakeMoonshot) -> None:
    server.script(Script(text="word " * 400))
    result = run(isolated_user, server, "-m", "moonshot-v1-128k", "--max-tokens", "50", "-p", "go on")
    assert result.returncode == 1 and result.stdout.startswith("word word")
    assert "--max-tokens N raises it" in result.stderr and "kimi-repl -c, then /continue, goes on" in result.stderr
    assert "(/continue" not in result.stderr and "/history" not in result.stderr and "/thinking" not in result.stderr


def test_an_unknown_model_with_continue_is_not_kept_with_the_session(isolated_user: Path, server: FakeMoonshot) -> None:
    assert run(isolated_user, server, "-p", "first").returncode == 0
    failed = run(isolated_user, server, "-c", "-m", "kimi-k9", "-p", "second")
    assert failed.returncode == 1 and failed.stderr.count("Current models:") == 1, failed.stderr
    again = run(isolated_user, server, "-c", "-p", "third")
    assert again.returncode == 0 and server.chat_requests()[-1]["model"] == "kimi-k2.6"


def test_a_question_may_follow_the_flags_without_p(isolated_user: Path, server: FakeMoonshot) -> None:
    result = run(isolated_user, server, "-m", "moonshot-v1-8k", "what", "is", "a", "monad?")
    assert result.returncode == 0 and result.stdout == "Echo 1: what is a monad?\n"
    both = run(isolated_user, server, "-p", "one", "two")
    assert both.returncode == 2 and "give the question once" in both.stderr
