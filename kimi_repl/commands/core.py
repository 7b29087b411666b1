"""/help and /exit."""

from __future__ import annotations

from kimi_repl.chat import ChatSession
from kimi_repl.commands.registry import CommandRegistry

KEYS = [
    ("Enter", "send the message"),
    ("Alt-Enter / Esc Enter", "insert a newline (a pasted block stays one message)"),
    ("Tab", "complete commands and their arguments"),
    ("→", "accept the suggestion from your history"),
    ("↑ / ↓", "earlier messages (after a failed request, ↑ brings the message back)"),
    ("Ctrl-X Ctrl-E", "write the message in your editor ($VISUAL, $EDITOR)"),
    ("Ctrl-C", "stop a streaming reply, or clear the line"),
    ("Ctrl-D", "quit"),
    ("//text", "send a message that starts with /"),
]


def register(registry: CommandRegistry) -> None:
    @registry.command("help", "Show the commands and keys.", aliases=("?",))
    def help_(session: ChatSession, argument: str) -> None:
        rows = []
        for c in registry:
            names = ", ".join(f"/{name}" for name in (c.name, *c.aliases))
            rows.append((f"{names} {c.usage}".rstrip(), c.summary))
        session.display.rows(rows, title="Commands")
        session.display.rows(KEYS, title="Keys")

    @registry.command("exit", "Leave kimi-repl.", aliases=("quit",))
    def exit_(session: ChatSession, argument: str) -> None:
        session.exit_requested = True
