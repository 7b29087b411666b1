"""Slash-commands: one registry per session, filled from the command tables of the topic modules below."""

from __future__ import annotations

import functools

from kimi_repl.commands import (
    account,
    attachments,
    basics,
    branches,
    conversation,
    files,
    models,
    modes,
    sessions,
    settings,
    tokens,
)
from kimi_repl.commands.context import CommandContext
from kimi_repl.commands.registry import Command, CommandError, CommandRegistry, SlashCompleter

__all__ = ["Command", "CommandContext", "CommandError", "CommandRegistry", "SlashCompleter", "build_registry"]

TOPICS = (basics, models, settings, conversation, branches, sessions, attachments, files, tokens, modes, account)
"""The command groups, in the order /help lists them."""


def build_registry() -> CommandRegistry:
    """The commands of one session, in the order /help lists them."""
    registry = CommandRegistry()
    registry.add(basics.HELP._replace(handler=functools.partial(basics.help_, registry)))
    for topic in TOPICS:
        for command in topic.commands:
            registry.add(command)
    return registry
