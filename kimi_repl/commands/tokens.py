"""/usage and /compact: the tokens a session spends, and how much of the window it fills."""

from __future__ import annotations

from kimi_repl.commands.context import CommandContext
from kimi_repl.commands.registry import CommandError, CommandTable
from kimi_repl.conversation import Usage
from kimi_repl.planner import session_usage, short_tokens
from kimi_repl.prices import spent

commands = CommandTable()


@commands.command("usage", "Show the tokens this session used, and how full the context is.")
def usage(context: CommandContext, argument: str) -> None:
    conversation = context.chat.conversation
    total, replies = session_usage(conversation.turns)
    if not replies:
        context.display.info("No usage reported yet.")
        return
    rows = [
        ("replies", str(replies)),
        ("prompt tokens", f"{total.prompt:,}"),
        ("cached prompt tokens", f"{total.cached:,}"),
        ("completion tokens", f"{total.completion:,}"),
        ("reasoning tokens", f"{total.reasoning:,} (part of the completion)"),
        ("web searches", str(sum(len(turn.searches) for turn in conversation.turns))),
        ("cost", _cost(context)),
    ]
    last = next((t for t in reversed(conversation.turns) if t.usage), None)
    if last is not None:
        model = last.model or conversation.model  # the model that replied, whatever is chosen now
        window = context.chat.profile(model).window
        used = last.usage or Usage()
        of = f" of {short_tokens(window)} ({100 * used.total / window:.0f}%)" if window else ""
        rows.append(("context at the last reply", f"{short_tokens(used.total)}{of} for {model}"))
    if conversation.context_start:
        rows.append(("compacted (/compact off)", f"the {conversation.context_start} oldest turns"))
    if context.chat.sent_from > conversation.context_start:
        rows.append(("left out of the last request", f"the {context.chat.sent_from} oldest turns (to fit the window)"))
    rows.append(("reply budget", f"up to {context.settings.max_tokens:,} tokens, as the window allows"))
    context.display.rows(rows, title="Usage of the replies in this conversation (undone ones are not counted)")


def _cost(context: CommandContext) -> str:
    """What the replies cost at their models' prices (cached input at the cache price); the replies of models
    whose price is unknown are named, not guessed."""
    chat = context.chat
    price_of = chat.catalog.prices.price
    total = spent(chat.conversation.turns, price_of, chat.conversation.model)
    shown = total.shown()
    searched = any(turn.searches for turn in chat.conversation.turns)
    if not total.unpriced:
        return f"{shown} (web search calls not counted)" if searched else shown
    without = f"{total.unpriced} repl{'y' if total.unpriced == 1 else 'ies'} of models without a known price"
    where = '[prices."MODEL"] in config.toml sets one; the built-in prices are api.moonshot.ai\'s, in USD'
    return f"{shown} + {without} ({where})" if shown else f"unknown: no price is known for these models ({where})"


@commands.command(
    "compact",
    "Stop sending the oldest turns, so the conversation uses at most half the window; 'off' sends them again.",
    usage="[off]",
    arguments=lambda context, argument: ["off"],
)
def compact(context: CommandContext, argument: str) -> None:
    conversation = context.chat.conversation
    if argument == "off":
        count = context.chat.uncompact()
        context.display.info(
            f"The {count} oldest turns are sent again, as far as the window allows."
            if count
            else "Nothing is compacted."
        )
        return
    if argument:
        raise CommandError(f"/compact takes nothing or 'off', not {argument!r}.")
    profile = context.chat.profile()
    window = profile.window
    if window is None:
        raise CommandError(f"The context window of {profile.id} is unknown, so there is nothing to measure against.")
    planned = context.chat.plan(profile, target=window // 2)
    if planned.start <= conversation.context_start:
        context.display.info(
            f"Nothing to drop: about {short_tokens(planned.tokens)} of {short_tokens(window)} tokens in use."
        )
        return
    context.chat.compact(planned.start)
    context.display.info(
        f"The {planned.start} oldest turns are not sent any more (/history still shows them; /compact off sends "
        f"them again); about {short_tokens(planned.tokens)} of {short_tokens(window)} tokens in use."
    )
