"""/model and /models: which model the next message goes to, and what each can do."""

from __future__ import annotations

from kimi_repl.commands.context import CommandContext
from kimi_repl.commands.registry import CommandError, CommandTable
from kimi_repl.commands.shared import check_model_name, model_names
from kimi_repl.narrator import switch_warning
from kimi_repl.planner import short_tokens
from kimi_repl.profile import ModelProfile, Thinking


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


commands = CommandTable()


@commands.command(
    "model", "Show the model, or switch to NAME for the next turn.", usage="[NAME]", arguments=model_names
)
def model(context: CommandContext, argument: str) -> None:
    if argument and context.display.secret.found_in(argument):
        raise CommandError("That is your API key, not a model name: it is not used, nor saved.")
    if argument:
        context.chat.choose(model=check_model_name(argument))
    with context.display.working("Asking the server about its models…"):
        chosen = context.resolve_model()  # the default from the server first: one answer, not two
        about = context.describe_model()
        warning = context.unlisted_warning(argument) if argument else None
    if chosen:
        context.display.note(chosen)
    context.display.info(f"Model: {about}" + (" (from the next message on)" if argument else ""))
    destination = context.settings.destination()
    if destination:
        context.display.note(destination)
    if warning:
        context.display.warning(warning)
    for unseen in context.chat.unseen_by(context.chat.model) if argument else ():
        context.display.warning(switch_warning(unseen))


@commands.command("models", "List the models the server offers, with what each can do.")
def models(context: CommandContext, argument: str) -> None:
    with context.display.working("Asking the server for its models…"):
        listed = context.chat.catalog.listed()
        if listed is None:
            context.chat.client.list_models()  # ask again, to show why it fails
            listed = context.chat.catalog.listed() or []
    rows = []
    for name in sorted(listed):
        mark = "← current" if name == context.chat.model else ""
        rows.append((name, capabilities(context.chat.profile(name)), mark))
    context.display.rows(rows, title="Models")
