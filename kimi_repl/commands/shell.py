"""!COMMAND and !!COMMAND: a command run in the user's shell, its output attached to the next message or sent.

Only a line the user typed gets here (the REPL routes lines starting with ``!``): nothing a model says is run.
The runner is :mod:`kimi_repl.shellrun`; the output joins the conversation through the chat's attachments.
"""

from __future__ import annotations

import dataclasses
import functools

from kimi_repl.commands.context import CommandContext
from kimi_repl.conversation import Output
from kimi_repl.display import Display
from kimi_repl.interrupts import allowed, held
from kimi_repl.safefiles import byte_size
from kimi_repl.shellrun import run_command, shell_argv

USAGE = (
    "Usage: !COMMAND runs COMMAND in your shell and attaches its output to your next message; "
    "!!COMMAND sends its output at once."
)
NOT_FOUND = (127, 9009)
"""The status a POSIX shell, and cmd, give a command they cannot find."""
HELD_BACK = 4096
QUIET_NOTE = "`{}` is still running, silent (Ctrl-C stops it; it has no terminal, so editors and pagers wait)."
"""Characters of an unfinished line kept back from the screen (an escape sequence may end in the next piece)."""


def is_shell_line(text: str) -> bool:
    """Whether a line typed at the prompt is a shell command: ``!`` first (`` !text`` is a message)."""
    return text.lstrip("\r\n").startswith("!")


def shell_line(context: CommandContext, text: str) -> None:
    """Run ``!COMMAND`` (attach its output to the next message) or ``!!COMMAND`` (send it now).

    Ctrl-C stops the command (and whatever it started) and attaches nothing.
    """
    line = text.strip()
    send = line.startswith("!!")
    command = line[2 if send else 1 :].strip()
    if not command:
        context.display.info(USAGE)
        return
    feed = Feed(context.display)
    try:
        with held(then_raise=False), allowed():  # Ctrl-C is ours to deliver, even if SIGINT was ignored at start
            argv = shell_argv(command, shell=context.settings.shell)
            quiet = functools.partial(context.display.note, QUIET_NOTE.format(short(command)))
            secret = context.chat.client.secret
            output = run_command(command, feed.write, argv=argv, at_cut=secret.without_partial, on_quiet=quiet)
    except KeyboardInterrupt:
        feed.close()
        context.display.note(f"Stopped `{short(command)}`: nothing attached.")
        return
    finally:
        feed.close()
    # The key goes nowhere but in the Authorization header, not to the model either (`!env`, `!cat .env`).
    secret = context.chat.client.secret
    output = dataclasses.replace(output, command=secret.redact(output.command), text=secret.redact(output.text))
    if output.status is None:  # the shell itself could not start: nothing the model should see
        context.display.error(f"Could not run your shell: {output.text.strip()} (shell in config.toml, or $SHELL).")
        return
    if send:
        context.display.note(f"Sending the output of `{short(command)}` ({describe(output)}).")
        context.chat.send(output.framed())
        return
    context.chat.attached.output(context.chat.conversation, output)
    attached(context, output)


def status_words(output: Output) -> str:
    """``exit status 0``, ``not found (exit status 127)``, ``failed with exit status 2``, ``ended by signal 9``."""
    status = output.status
    if status is None:
        return "could not start"
    if status < 0:
        return f"ended by signal {-status}"
    if status in NOT_FOUND:
        return f"not found (exit status {status})"
    return "exit status 0" if status == 0 else f"failed with exit status {status}"


def short(command: str) -> str:
    """The command for a sentence: one line, at most 60 characters."""
    command = " ".join(command.split())
    return command if len(command) <= 60 else command[:59] + "…"


def describe(output: Output) -> str:
    """How long an output is and how its command ended: ``12 lines, exit status 0``."""
    lines = len(output.text.splitlines())
    size = f"{lines:,} line{'s' if lines != 1 else ''}"
    if output.cut:
        size += f", {byte_size(output.cut)} left out of the middle"
    return f"{size}, {status_words(output)}"


def attached(context: CommandContext, output: Output) -> None:
    """Say that ``output`` is attached to the next message: plainly if its command succeeded, as a warning if
    not (it is attached all the same: the model may help with the error)."""
    command = short(output.command)
    if output.status == 0:
        context.display.info(f"Attached the output of `{command}` ({describe(output)}) to your next message.")
        return
    context.display.warning(
        f"⚠ `{command}` {status_words(output)}: its output ({describe(output).split(', ')[0]}) is attached to your "
        "next message all the same (/file clear drops it)."
    )


class Feed:
    """Shows a command's output as it streams, whole lines at a time (an unfinished line waits for its end,
    unless it grows long), so that an escape sequence split between two pieces is still removed whole."""

    def __init__(self, display: Display) -> None:
        self.display = display
        self.pending = ""
        self.at_line_start = True

    def write(self, text: str) -> None:
        text = self.pending + text
        end = text.rfind("\n") + 1
        if len(text) - end > HELD_BACK:  # a long unfinished line: shown, but for where the key may begin in it
            end = self.display.secret.may_start_at(text)
        self.pending = text[end:]
        self._show(text[:end])

    def close(self) -> None:
        """Show what is left, and end the line."""
        rest, self.pending = self.pending, ""
        self._show(rest)
        if not self.at_line_start:
            self._show("\n")

    def _show(self, text: str) -> None:
        if text:
            with held():  # Ctrl-C waits for the piece to be drawn: an interrupted print would leave rich's buffer open
                self.display.shell_output(text)
            self.at_line_start = text.endswith("\n")
