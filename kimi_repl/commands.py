"""The slash-command registry: one table that dispatch, /help and Tab completion all read.

A registry is built per session (:func:`build_registry`); handlers are plain functions of the session and
the argument text, so they are tested without a terminal.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from kimi_repl.chat import ChatSession
from kimi_repl.client import ChatError
from kimi_repl.models import KNOWN_MODELS, parse_temperature

Handler = Callable[[ChatSession, str], None]
ArgumentCompleter = Callable[[ChatSession], Iterable[str]]


class CommandError(Exception):
    """A command was unknown or misused; the message is one line fit to show."""


@dataclass(frozen=True)
class Command:
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


class CommandRegistry:
    """Slash-commands by name and alias."""

    def __init__(self) -> None:
        self._commands: list[Command] = []
        self._by_name: dict[str, Command] = {}

    def add(self, command: Command) -> None:
        for name in (command.name, *command.aliases):
            if name in self._by_name:
                raise ValueError(f"/{name} is registered twice")
            self._by_name[name] = command
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
        """Decorator that registers a handler."""

        def register(handler: Handler) -> Handler:
            self.add(Command(name, summary, handler, usage, aliases, arguments))
            return handler

        return register

    def __iter__(self) -> Iterator[Command]:
        return iter(self._commands)

    def names(self) -> list[str]:
        """Every name and alias, sorted."""
        return sorted(self._by_name)

    def find(self, name: str) -> Command | None:
        return self._by_name.get(name)

    def dispatch(self, session: ChatSession, line: str) -> None:
        """Run the command on ``line`` (which starts with ``/``).

        Raises:
            CommandError: unknown command or bad argument; nothing was changed.
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
        command.handler(session, argument)


class SlashCompleter(Completer):
    """Tab completion of command names, then of their arguments, from the registry."""

    def __init__(self, registry: CommandRegistry, session: ChatSession) -> None:
        self.registry = registry
        self.session = session

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        text = document.text_before_cursor
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
        for value in command.arguments(self.session):
            if value.startswith(argument) and value != argument:
                yield Completion(value, start_position=-len(argument))


def model_names(session: ChatSession) -> list[str]:
    """Models from ``GET /models`` (fetched once) and the built-in list, sorted and unique."""
    names = set(KNOWN_MODELS)
    with contextlib.suppress(ChatError):  # without the server, completion offers the built-in names
        names.update(str(model["id"]) for model in session.client.list_models(retry_failed=False))
    return sorted(names)


def build_registry() -> CommandRegistry:
    """The commands of one session."""
    registry = CommandRegistry()
    cmd = registry.command

    @cmd("help", "Show the commands and keys.", aliases=("?",))
    def help_(session: ChatSession, argument: str) -> None:
        rows = []
        for c in registry:
            names = ", ".join(f"/{name}" for name in (c.name, *c.aliases))
            rows.append((f"{names} {c.usage}".rstrip(), c.summary))
        session.display.rows(rows, title="Commands")
        session.display.rows(
            [
                ("Enter", "send the message"),
                ("Alt-Enter / Esc Enter", "insert a newline (a pasted block stays one message)"),
                ("Tab", "complete commands and their arguments"),
                ("Ctrl-C", "stop a streaming reply, or clear the line"),
                ("Ctrl-D", "quit"),
                ("//text", "send a message that starts with /"),
            ],
            title="Keys",
        )

    @cmd("exit", "Leave kimi-repl.", aliases=("quit",))
    def exit_(session: ChatSession, argument: str) -> None:
        session.exit_requested = True

    @cmd("model", "Show the model, or switch to NAME for the next turn.", usage="[NAME]", arguments=model_names)
    def model(session: ChatSession, argument: str) -> None:
        if not argument:
            session.display.info(f"Model: {session.model}")
            return
        if len(argument.split()) > 1:
            raise CommandError(f"A model name has no spaces: {argument!r}. /models lists them.")
        session.settings.model = argument
        session.display.info(f"Model: {argument} (from the next message on)")
        if argument not in model_names(session):
            session.display.warning(f"{argument} is not a model this server lists; /models shows those that are.")

    @cmd("models", "List the models the server offers.")
    def models(session: ChatSession, argument: str) -> None:
        try:
            listed = session.client.list_models()
        except ChatError as error:
            session.display.error(str(error))
            return
        rows = []
        for entry in sorted(listed, key=lambda m: str(m.get("id"))):
            name = str(entry.get("id"))
            window = entry.get("context_length") or (
                KNOWN_MODELS[name].context_window if name in KNOWN_MODELS else None
            )
            mark = "← current" if name == session.model else ""
            rows.append((name, f"{window // 1024}k context {mark}".strip() if window else mark))
        session.display.rows(rows, title="Models")

    @cmd(
        "temperature",
        "Show the temperature, or set it (0 to 1).",
        usage="[X]",
        aliases=("temp",),
        arguments=lambda session: ["0.3", "0.6", "1"],
    )
    def temperature(session: ChatSession, argument: str) -> None:
        if argument:
            try:
                session.settings.temperature = parse_temperature(argument)
            except ValueError as error:
                raise CommandError(f"{error}; it stays {session.describe_temperature()}.") from None
        session.display.info(f"Temperature: {session.describe_temperature()}")

    @cmd(
        "system",
        "Show the system prompt, set it to TEXT, or remove it with 'clear'.",
        usage="[TEXT|clear]",
        arguments=lambda session: ["clear"],
    )
    def system(session: ChatSession, argument: str) -> None:
        conversation = session.conversation
        if not argument:
            if conversation.system:
                session.display.info("System prompt:")
                session.display.text(conversation.system)
            else:
                session.display.info("No system prompt.")
            return
        if argument == "clear":
            conversation.system = None
            session.display.info("System prompt removed.")
            return
        conversation.system = argument
        session.display.info("System prompt set; it is sent first with every message from now on.")

    @cmd("clear", "Start a new conversation with the same settings.", aliases=("new",))
    def clear(session: ChatSession, argument: str) -> None:
        session.conversation.clear()
        session.display.info("New conversation.")

    return registry
