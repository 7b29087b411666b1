"""/help and /exit."""

from __future__ import annotations

from kimi_repl.commands.context import CommandContext
from kimi_repl.commands.registry import Command, CommandRegistry, CommandTable

KEYS = [
    ("Enter", "send the message"),
    ("Alt-Enter / Esc Enter", "insert a newline (a pasted block stays one message)"),
    ("Tab", "complete commands and their arguments"),
    ("→", "accept the suggestion from your history"),
    ("↑ / ↓", "earlier messages (after a failed request, ↑ brings the message back)"),
    ("Ctrl-V", "attach the clipboard's picture (/image paste), or paste its text"),
    ("Ctrl-X Ctrl-E", "write the message in your editor ($VISUAL, $EDITOR)"),
    ("Ctrl-C", "stop a streaming reply, or clear the line"),
    ("Ctrl-D", "quit"),
    ("//text", "send a message that starts with /"),
    ("!COMMAND", "run COMMAND in your shell; its output goes with your next message (/file lists it)"),
    ("!!COMMAND", "run COMMAND in your shell and send its output now"),
]


def help_(registry: CommandRegistry, context: CommandContext, argument: str) -> None:
    """/help: every command of ``registry``, then the keys."""
    rows = []
    for c in registry:
        names = ", ".join(f"/{name}" for name in (c.name, *c.aliases))
        rows.append((f"{names} {c.usage}".rstrip(), c.summary))
    context.display.rows(rows, title="Commands")
    context.display.rows(KEYS, title="Keys")


HELP = Command("help", "Show the commands and keys.", help_, aliases=("?",))  # type: ignore[arg-type]
"""/help (its handler takes the registry first: :func:`kimi_repl.commands.build_registry` binds it)."""

commands = CommandTable()


@commands.command("exit", "Leave kimi-repl.", aliases=("quit",))
def exit_(context: CommandContext, argument: str) -> None:
    context.state.exit_requested = True
