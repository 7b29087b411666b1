"""Slash-commands: one registry per session, filled by the command groups below."""

from __future__ import annotations

from kimi_repl.commands import attachments, conversation, core, files, kimi, settings
from kimi_repl.commands.registry import Command, CommandError, CommandRegistry, SlashCompleter

__all__ = ["Command", "CommandError", "CommandRegistry", "SlashCompleter", "build_registry"]


def build_registry() -> CommandRegistry:
    """The commands of one session, in the order /help lists them."""
    registry = CommandRegistry()
    for group in (core, settings, conversation, files, attachments, kimi):
        group.register(registry)
    return registry
