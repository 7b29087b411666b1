"""/temperature, /role, /system: what the next message is sent with."""

from __future__ import annotations

from collections.abc import Iterable

from kimi_repl.commands.context import CommandContext
from kimi_repl.commands.registry import CommandError, CommandTable
from kimi_repl.values import parse_temperature


def temperatures(context: CommandContext, argument: str) -> Iterable[str]:
    return ["0.3", "0.6", "1"]


commands = CommandTable()


@commands.command(
    "temperature",
    "Show the temperature, or set it (0 to 1).",
    usage="[X]",
    aliases=("temp",),
    arguments=temperatures,
)
def temperature(context: CommandContext, argument: str) -> None:
    if argument:
        try:
            context.chat.choose(temperature=parse_temperature(argument))
        except ValueError as error:
            now = context.describe_temperature()
            fixed = context.chat.profile().fixed_sampling  # then what is in force is a sentence, not a number
            raise CommandError(f"{error}. Nothing changed: {now}." if fixed else f"{error}; it stays {now}.") from None
    context.display.info(f"Temperature: {context.describe_temperature()}")


def role_names(context: CommandContext, argument: str) -> Iterable[str]:
    return [*sorted(context.settings.roles), "clear"]


@commands.command(
    "role",
    "List the roles of your config file, take one (its model, temperature, system prompt, thinking), or clear it.",
    usage="[NAME|clear]",
    arguments=role_names,
)
def role(context: CommandContext, argument: str) -> None:
    roles = context.settings.roles
    if argument == "clear":
        left = context.chat.clear_role()
        context.display.info(f"Left role {left.name}." if left else "No role is in force.")
        return
    if argument:
        picked = roles.get(argument)
        if picked is None:
            known = ", ".join(sorted(roles)) or "none: add [roles.NAME] tables to config.toml"
            raise CommandError(f"No role {argument!r} (roles: {known}).")
        context.chat.apply_role(picked)
        context.display.info(f"Role {picked.name}: {picked.describe()}")
        return
    if not roles:
        from kimi_repl.configfile import config_path

        context.display.info(
            f"No roles yet: add [roles.NAME] tables to {config_path()} (the README has an example); kimi-repl "
            "reads it when it starts."
        )
        return
    active = context.chat.role.name if context.chat.role else None
    rows = [(name, roles[name].describe(), "← in force" if name == active else "") for name in sorted(roles)]
    context.display.rows(rows, title="Roles (/role NAME takes one, /role clear leaves it)")


@commands.command(
    "system",
    "Show the system prompt, set it to TEXT, or remove it with 'clear'.",
    usage="[TEXT|clear]",
    arguments=lambda context, argument: ["clear"],
)
def system(context: CommandContext, argument: str) -> None:
    current = context.chat.conversation.system
    if not argument:
        if current:
            context.display.info("System prompt:")
            context.display.text(current)
        else:
            context.display.info("No system prompt.")
        return
    if argument == "clear":
        context.chat.choose(system=None)
        context.display.info("System prompt removed.")
        return
    context.chat.choose(system=argument)
    context.display.info("System prompt set; it is sent first with every message from now on.")
