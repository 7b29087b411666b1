"""The start-up floor: the least a prompt_toolkit + rich REPL does before its first prompt, then /exit."""

from prompt_toolkit import PromptSession
from rich.console import Console

console = Console()
console.print("[dim]bare loop · /exit to quit[/]")
session: PromptSession[str] = PromptSession()
while True:
    if session.prompt("> ").strip() == "/exit":
        break
