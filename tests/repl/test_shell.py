"""!COMMAND and !!COMMAND typed at the prompt: the output goes with the next message (and into the session file),
or is sent at once; the REPL never dies of a command."""

from __future__ import annotations

from pathlib import Path

from prompt_toolkit.input import PipeInput

from kimi_repl.commands.context import CommandContext
from kimi_repl.config import Settings
from kimi_repl.conversation import Output
from tests.fake import FakeMoonshot, Script
from tests.helpers import CTRL_D, ENTER, CapturedDisplay, loaded, run_repl, saved_session, session_files, user_messages

HI = "Output of the shell command `echo hi` (exit status 0):\n```\nhi\n```"


def test_the_output_of_a_command_goes_with_the_next_message_only(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    run_repl(session, keys, "!echo hi" + ENTER + "what did it say?" + ENTER + "and now?" + ENTER + CTRL_D)
    assert user_messages(server) == [f"{HI}\n\nwhat did it say?", "and now?"]
    assert "Attached the output of `echo hi` (1 line, exit status 0) to your next message." in display.output
    first = session.chat.conversation.turns[0]
    assert first.content == "what did it say?" and first.outputs == [Output("echo hi", "hi\n", 0)]
    assert session.chat.conversation.outputs == []


def test_two_bangs_send_the_output_at_once_even_when_the_command_fails(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    run_repl(session, keys, "!!echo oops && exit 3" + ENTER + CTRL_D)
    assert user_messages(server) == [
        "Output of the shell command `echo oops && exit 3` (exit status 3):\n```\noops\n```"
    ]
    assert "failed with exit status 3" in display.output


def test_a_failing_command_is_attached_with_a_warning_that_says_so(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    run_repl(session, keys, "!no-such-command-kimi" + ENTER + "why?" + ENTER + CTRL_D)
    assert "⚠ `no-such-command-kimi` not found (exit status 127): its output (1 line) is attached" in display.output
    assert "(exit status 127)" in user_messages(server)[0]


def test_a_bare_bang_gives_the_usage_and_file_clear_drops_waiting_output(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    typed = "!" + ENTER + "!echo hi" + ENTER + "/file" + ENTER + "/history" + ENTER + "/file clear" + ENTER
    run_repl(session, keys, typed + "plain" + ENTER + CTRL_D)
    assert "Usage: !COMMAND runs COMMAND in your shell" in display.output
    assert "!echo hi  1 line, exit status 0" in display.output  # /file lists it
    assert "Attached for your next message: the output of !echo hi" in display.output  # /history too
    assert "Removed the output of 1 command." in display.output
    assert user_messages(server) == ["plain"]


def test_output_waits_again_after_a_failed_request(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot
) -> None:
    server.script(Script(status=401))
    run_repl(session, keys, "!echo hi" + ENTER + "first" + ENTER + CTRL_D)
    assert session.chat.conversation.outputs == [Output("echo hi", "hi\n", 0)]
    assert session.chat.conversation.turns == []


def test_output_is_saved_with_the_session_and_survives_resume(
    settings: Settings, display: CapturedDisplay, keys: PipeInput, server: FakeMoonshot, isolated_user: Path
) -> None:
    session = saved_session(settings, display)
    run_repl(session, keys, "!echo hi" + ENTER + "look" + ENTER + "!echo later" + ENTER + CTRL_D)
    (path,) = session_files(isolated_user)
    conversation = loaded(path)
    assert conversation.turns[0].outputs == [Output("echo hi", "hi\n", 0)]
    assert conversation.outputs == [Output("echo later", "later\n", 0)]  # still waiting for a message
    assert conversation.messages()[0]["content"] == f"{HI}\n\nlook"


def test_a_space_before_the_bang_sends_it_as_a_message(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot
) -> None:
    run_repl(session, keys, " !important: read this" + ENTER + CTRL_D)
    assert user_messages(server) == [" !important: read this"]


def test_transcripts_keep_the_output_a_message_carried(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot
) -> None:
    from kimi_repl.transcript import from_json, from_markdown, to_json, to_markdown

    run_repl(session, keys, "!printf 'a --> b\\n```\\n'" + ENTER + "look" + ENTER + CTRL_D)
    conversation = session.chat.conversation
    markdown = to_markdown(conversation)
    assert "## You · " in markdown and "· $ output of ````printf 'a --> b\\n```\\n'````" in markdown
    for loaded_back in (from_markdown(markdown, "chat.md"), from_json(to_json(conversation), "chat.json")):
        assert (
            loaded_back.turns[0].outputs
            == conversation.turns[0].outputs
            == [Output("printf 'a --> b\\n```\\n'", "a --> b\n```\n", 0)]
        )


def test_the_api_key_in_a_commands_output_goes_to_neither_the_model_nor_the_screen(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    key = session.settings.api_key
    run_repl(
        session, keys, f"!echo the key is {key}" + ENTER + "what is it?" + ENTER + f"!!echo {key}" + ENTER + CTRL_D
    )
    sent = " ".join(user_messages(server))
    assert key not in sent and "[API key removed]" in sent
    assert key not in display.output


def test_the_api_key_is_out_of_a_long_output_wherever_it_falls(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot, display: CapturedDisplay, tmp_path: Path
) -> None:
    """Across the cut in the middle of an output over 100 KB (found by an attacker: each side was redacted alone),
    and in a line long enough to be shown in pieces."""
    key = session.settings.api_key
    straddling = tmp_path / "big.txt"
    straddling.write_text("z" * (61440 - len(key) // 2) + key + "\n" + "w" * 80000 + "\n")
    long_line = tmp_path / "long.txt"
    long_line.write_text("x" * (65536 - 15) + key + "y" * 100 + "\n")
    typed = f"!cat {straddling}" + ENTER + "and this" + ENTER + f"!cat {long_line}" + ENTER + "and that" + ENTER
    run_repl(session, keys, typed + CTRL_D)
    sent = " ".join(user_messages(server))
    for piece in (key[:8], key[-8:]):
        assert piece not in sent and piece not in display.output
