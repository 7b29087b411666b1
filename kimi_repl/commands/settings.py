"""/model, /models, /temperature, /system: what the next message is sent with."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from kimi_repl.chat import ChatSession
from kimi_repl.client import ChatError
from kimi_repl.commands.registry import CommandError, CommandRegistry
from kimi_repl.models import KNOWN_MODELS, parse_temperature


def model_names(session: ChatSession, argument: str = "") -> list[str]:
    """Models from ``GET /models`` (fetched once) and the built-in list, sorted and unique."""
    names = set(KNOWN_MODELS)
    with contextlib.suppress(ChatError):  # without the server, completion offers the built-in names
        names.update(str(model["id"]) for model in session.client.list_models(retry_failed=False))
    return sorted(names)


def check_model_name(name: str) -> str:
    """``name`` if it can be a model name.

    Raises:
        CommandError: it has spaces.
    """
    if len(name.split()) > 1:
        raise CommandError(f"A model name has no spaces: {name!r}. /models lists them.")
    return name


def register(registry: CommandRegistry) -> None:
    cmd = registry.command

    @cmd("model", "Show the model, or switch to NAME for the next turn.", usage="[NAME]", arguments=model_names)
    def model(session: ChatSession, argument: str) -> None:
        if not argument:
            session.display.info(f"Model: {session.model}")
            return
        session.set_model(check_model_name(argument))
        session.display.info(f"Model: {argument} (from the next message on)")
        if argument not in model_names(session):
            session.display.warning(f"{argument} is not a model this server lists; /models shows those that are.")

    @cmd("models", "List the models the server offers.")
    def models(session: ChatSession, argument: str) -> None:
        listed = session.client.list_models()
        rows = []
        for entry in sorted(listed, key=lambda m: str(m.get("id"))):
            name = str(entry.get("id"))
            window = session.window(name)
            mark = "← current" if name == session.model else ""
            rows.append((name, f"{window // 1024}k context {mark}".strip() if window else mark))
        session.display.rows(rows, title="Models")

    def temperatures(session: ChatSession, argument: str) -> Iterable[str]:
        return ["0.3", "0.6", "1"]

    @cmd(
        "temperature",
        "Show the temperature, or set it (0 to 1).",
        usage="[X]",
        aliases=("temp",),
        arguments=temperatures,
    )
    def temperature(session: ChatSession, argument: str) -> None:
        if argument:
            try:
                session.set_temperature(parse_temperature(argument))
            except ValueError as error:
                raise CommandError(f"{error}; it stays {session.describe_temperature()}.") from None
        session.display.info(f"Temperature: {session.describe_temperature()}")

    @cmd(
        "system",
        "Show the system prompt, set it to TEXT, or remove it with 'clear'.",
        usage="[TEXT|clear]",
        arguments=lambda session, argument: ["clear"],
    )
    def system(session: ChatSession, argument: str) -> None:
        current = session.conversation.system
        if not argument:
            if current:
                session.display.info("System prompt:")
                session.display.text(current)
            else:
                session.display.info("No system prompt.")
            return
        if argument == "clear":
            session.set_system(None)
            session.display.info("System prompt removed.")
            return
        session.set_system(argument)
        session.display.info("System prompt set; it is sent first with every message from now on.")
