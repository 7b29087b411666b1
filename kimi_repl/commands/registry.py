"""The slash-command registry: one table that dispatch, /help and Tab completion all read.

Handlers are plain top-level functions of a :class:`CommandContext` and the argument text, so they are tested
without a terminal. Each topic module fills a :class:`CommandTable` with its decorator; a registry is built per
session from the tables. What the chat core refuses (:class:`Refused`) is worded by the narrator here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from kimi_repl.chat.outcomes import Refused
from kimi_repl.commands.context import CommandContext
from kimi_repl.errors import UserError
from kimi_repl.sanitize import marked

Handler = Callable[[CommandContext, str], None]
ArgumentCompleter = Callable[[CommandContext, str], Iterable[str]]
"""Offers whole arguments for what has been typed after the command name."""


class CommandError(UserError):
    """A command was unknown or misused."""


class Command(NamedTuple):
    """One slash-command.

    Attributes:
        usage: the argument synopsis shown by /help, such as ``[NAME]``.
        arguments: offers the values Tab completes after the command name.
    """

    name: str
    summary: str
    handler: Handler
    usage: str = ""
    aliases: tuple[str, ...] = ()
    arguments: ArgumentCompleter | None = None


class CommandTable:
    """The commands of one topic module, in order, filled by its :meth:`command` decorator."""

    def __init__(self) -> None:
        self._commands: list[Command] = []

    def add(self, command: Command) -> None:
        self._commands.append(command)

    def command(
        self,
        name: str,
        summary: str,
        *,
        usage: str = "",
        aliases: tuple[str, ...] = (),
        arguments: ArgumentCompleter | None = None,
    ) -> Callable[[Handler], Handler]:
        """Decorator that adds a top-level handler to the table."""

        def add(handler: Handler) -> Handler:
            self.add(Command(name, summary, handler, usage, aliases, arguments))
            return handler

        return add

    def __iter__(self) -> Iterator[Command]:
        return iter(self._commands)


class CommandRegistry(CommandTable):
    """Slash-commands by name and alias: the tables of every topic, and any command added on its own."""

    def __init__(self) -> None:
        super().__init__()
        self._by_name: dict[str, Command] = {}

    def add(self, command: Command) -> None:
        for name in (command.name, *command.aliases):
            if name in self._by_name:
                raise ValueError(f"/{name} is registered twice")
            self._by_name[name] = command
        super().add(command)

    def names(self) -> list[str]:
        """Every name and alias, sorted."""
        return sorted(self._by_name)

    def find(self, name: str) -> Command | None:
        return self._by_name.get(name)

    def dispatch(self, context: CommandContext, line: str) -> None:
        """Run the command on ``line`` (which starts with ``/``).

        Raises:
            UserError: an unknown command or a bad argument (:class:`CommandError`, nothing was changed),
                or what the command failed on (a request, a file).
        """
        name, _, argument = line.strip()[1:].partition(" ")
        if "\n" in name:
            name, _, rest = name.partition("\n")
            argument = rest + argument
        command = self.find(name.lower())
        if command is None:
            raise CommandError(
                f"Unknown command /{name}. /help lists the commands; start a message with // "
                "to send text that begins with /."
            )
        argument = argument.strip()
        if argument and not command.usage:
            raise CommandError(f"/{command.name} takes no argument (got {argument!r}).")
        try:
            command.handler(context, argument)
        except Refused as refused:
            raise CommandError(context.narrator.refusal(refused.refusal)) from None


class SlashCompleter(Completer):
    """Tab completion of command names, then of their arguments, from the registry."""

    def __init__(self, registry: CommandRegistry, context: CommandContext) -> None:
        self.registry = registry
        self.context = context

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        try:
            yield from self._completions(document.text_before_cursor)
        except Exception:  # completion is a convenience: a hostile file system or a bug must not break the prompt
            return

    def _completions(self, text: str) -> Iterator[Completion]:
        if not text.startswith("/") or "\n" in text:
            return
        name, space, argument = text[1:].partition(" ")
        if not space:
            for candidate in self.registry.names():
                if candidate.startswith(name.lower()):
                    summary = self.registry.find(candidate)
                    meta = summary.summary if summary else ""
                    yield Completion("/" + candidate, start_position=-len(text), display_meta=meta)
            return
        command = self.registry.find(name.lower())
        if command is None or command.arguments is None:
            return
        for value in command.arguments(self.context, argument):
            if value.startswith(argument) and value != argument:
                yield Completion(value, start_position=-len(argument), display=marked(value))
