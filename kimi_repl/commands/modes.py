"""/thinking and /web: whether the model thinks first, and whether it may search the web."""

from __future__ import annotations

from kimi_repl.commands.context import CommandContext
from kimi_repl.commands.registry import CommandError, CommandTable
from kimi_repl.profile import Thinking
from kimi_repl.values import parse_on_off

commands = CommandTable()


@commands.command(
    "thinking",
    "Turn the model's thinking on or off; show or hide its reasoning on screen.",
    usage="[on|off|show|hide]",
    arguments=lambda context, argument: ["on", "off", "show", "hide"],
)
def thinking(context: CommandContext, argument: str) -> None:
    display = context.display
    if argument in ("show", "hide"):
        display.show_thinking = argument == "show"
        last = context.chat.conversation.last_reply
        if argument == "show" and last is not None and last.reasoning_content:
            display.note(f"The last reply's reasoning ({last.model or 'the model'}):")
            display.text(last.reasoning_content)
    elif argument:
        try:
            on = parse_on_off(argument, "/thinking")
        except ValueError as error:
            raise CommandError(f"{error} (or show, hide).") from None
        profile = context.chat.profile()
        if profile.thinking is Thinking.SWITCHABLE:
            context.chat.choose(thinking=on)
        elif profile.thinking is Thinking.ALWAYS:
            raise CommandError(f"{profile.id} always thinks: it cannot be switched off. Nothing changed.")
        elif profile.known:
            raise CommandError(f"{profile.id} does not think: there is nothing to switch. Nothing changed.")
        else:
            raise CommandError(f"{profile.id} is not a model kimi-repl knows can switch thinking. Nothing changed.")
    state = context.chat.profile().thinking_state(context.chat.conversation.thinking)
    shown = "shown in full" if display.show_thinking else "collapsed to one line"
    display.info(f"Thinking: {state} for {context.chat.model}; reasoning is {shown} (always kept in the transcript).")


@commands.command(
    "web",
    "Let the model search the web (Moonshot's $web_search, billed per search), or stop it.",
    usage="[on|off]",
    arguments=lambda context, argument: ["on", "off"],
)
def web(context: CommandContext, argument: str) -> None:
    if argument:
        try:
            context.chat.choose(web=parse_on_off(argument, "/web"))
        except ValueError as error:
            raise CommandError(f"{error}.") from None
    if context.chat.conversation.web:
        context.display.info(
            "Web search: on. The model searches when it needs to (about ¥0.03 / $0.005 a search, plus the "
            "results as input); each search shows as a dim line."
        )
    else:
        context.display.info("Web search: off. /web on lets the model search.")
