"""/model, /models, /temperature, /role, /system: what the next message is sent with."""

from __future__ import annotations

from collections.abc import Iterable

from kimi_repl.chat import ChatSession
from kimi_repl.commands.registry import CommandError, CommandRegistry
from kimi_repl.planner import short_tokens
from kimi_repl.profile import BUILT_IN, ModelProfile, Thinking
from kimi_repl.values import check_model_name as checked_model_name
from kimi_repl.values import parse_temperature


def model_names(session: ChatSession, argument: str = "") -> list[str]:
    """Models from ``GET /models`` (fetched once), else the built-in list, sorted and unique."""
    listed = session.listed_models()
    return sorted(set(listed) if listed else set(BUILT_IN))


def check_model_name(name: str) -> str:
    """``name`` if it can be a model name.

    Raises:
        CommandError: it has spaces, invisible characters, or is too long.
    """
    try:
        return checked_model_name(name)
    except ValueError as error:
        raise CommandError(f"{error}. /models lists them.") from None


def capabilities(profile: ModelProfile) -> str:
    """``256k context · thinking (switchable) · images`` for /models."""
    parts = [f"{short_tokens(profile.window)} context"] if profile.window else []
    if profile.thinking is Thinking.SWITCHABLE:
        parts.append("thinking (switchable)")
    elif profile.thinking is Thinking.ALWAYS:
        parts.append("always thinks")
    if profile.images:
        parts.append("images")
    return " · ".join(parts)


def register(registry: CommandRegistry) -> None:
    cmd = registry.command

    @cmd("model", "Show the model, or switch to NAME for the next turn.", usage="[NAME]", arguments=model_names)
    def model(session: ChatSession, argument: str) -> None:
        if argument and session.display.secret.found_in(argument):
            raise CommandError("That is your API key, not a model name: it is not used, nor saved.")
        if argument:
            session.set_model(check_model_name(argument))
        with session.display.working("Asking the server about its models…"):
            chosen = session.resolve_model()  # the default from the server first: one answer, not two
            about = session.describe_model()
            warning = session.unlisted_warning(argument) if argument else None
        if chosen:
            session.display.note(chosen)
        session.display.info(f"Model: {about}" + (" (from the next message on)" if argument else ""))
        destination = session.settings.destination()
        if destination:
            session.display.note(destination)
        if warning:
            session.display.warning(warning)
        for unseen in session.unseen_by(session.model) if argument else ():
            session.display.warning(unseen)

    @cmd("models", "List the models the server offers, with what each can do.")
    def models(session: ChatSession, argument: str) -> None:
        with session.display.working("Asking the server for its models…"):
            listed = session.listed_models()
            if listed is None:
                session.client.list_models()  # ask again, to show why it fails
                listed = session.listed_models() or []
        rows = []
        for name in sorted(listed):
            mark = "← current" if name == session.model else ""
            rows.append((name, capabilities(session.profile(name)), mark))
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
                now = session.describe_temperature()
                fixed = session.profile().fixed_sampling  # then what is in force is a sentence, not a number
                raise CommandError(
                    f"{error}. Nothing changed: {now}." if fixed else f"{error}; it stays {now}."
                ) from None
        session.display.info(f"Temperature: {session.describe_temperature()}")

    def role_names(session: ChatSession, argument: str) -> Iterable[str]:
        return [*sorted(session.settings.roles), "clear"]

    @cmd(
        "role",
        "List the roles of your config file, take one (its model, temperature, system prompt, thinking), or clear it.",
        usage="[NAME|clear]",
        arguments=role_names,
    )
    def role(session: ChatSession, argument: str) -> None:
        roles = session.settings.roles
        if argument == "clear":
            left = session.clear_role()
            session.display.info(f"Left role {left.name}." if left else "No role is in force.")
            return
        if argument:
            picked = roles.get(argument)
            if picked is None:
                known = ", ".join(sorted(roles)) or "none: add [roles.NAME] tables to config.toml"
                raise CommandError(f"No role {argument!r} (roles: {known}).")
            session.apply_role(picked)
            session.display.info(f"Role {picked.name}: {picked.describe()}")
            return
        if not roles:
            session.display.info("No roles yet: add [roles.NAME] tables to config.toml (the README has an example).")
            return
        active = session.role.name if session.role else None
        rows = [(name, roles[name].describe(), "← in force" if name == active else "") for name in sorted(roles)]
        session.display.rows(rows, title="Roles (/role NAME takes one, /role clear leaves it)")

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
