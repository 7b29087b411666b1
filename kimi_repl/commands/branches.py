"""/rewind, /fork, /title: going back to an earlier message, branching, and what a session is called."""

from __future__ import annotations

from kimi_repl.chat.branches import Branched, fork, rewind, user_turns
from kimi_repl.chat.titles import give_title
from kimi_repl.commands.context import CommandContext
from kimi_repl.commands.registry import CommandError, CommandTable
from kimi_repl.commands.shared import turn_rows

commands = CommandTable()


def _turn_index(context: CommandContext, argument: str) -> int | None:
    """The index of the user's message ``argument`` names (a /history number); None to choose from a list.

    Raises:
        CommandError: it names no turn of this conversation.
    """
    turns = context.chat.conversation.turns
    if not argument:
        return None
    if not (argument.isdecimal() and argument.isascii()) or not 1 <= int(argument) <= len(turns):
        raise CommandError(f"/rewind takes a turn number from /history, 1 to {len(turns)}, not {argument[:20]!r}.")
    index = int(argument) - 1
    if turns[index].role == "assistant":
        context.display.note(f"Turn {index + 1} is Kimi's reply: going back to your message before it, turn {index}.")
        index -= 1
    return index


def _choose_message(context: CommandContext) -> int | None:
    """The user's message to go back to, chosen from a list of them (None: none chosen)."""
    conversation = context.chat.conversation
    indexes = user_turns(conversation)
    choose, secret = context.state.choose, context.chat.client.secret
    if choose is None:  # no terminal to choose in: show the numbers to type
        every = turn_rows(conversation.turns, secret)
        rows = [row for row in every if conversation.turns[int(row[0]) - 1].role == "user"]
        context.display.rows(rows, title="Your messages (/rewind N goes back to before message N)")
        return None
    rows = [turn_rows([conversation.turns[i]], secret, first_number=i + 1)[0][::2] for i in indexes]
    picked = choose("Go back to before which message? (Enter: go back, Esc: stay)", rows, len(rows) - 1)
    return None if picked is None else indexes[picked]


def _branched(context: CommandContext, done: Branched, what: str) -> None:
    kept = f"turns 1 to {done.turns} go on" if done.turns > 1 else "turn 1 goes on" if done.turns else "you start"
    context.display.info(
        f"{what}: {kept} in a new session, {done.session}; session {done.parent} keeps every turn it had."
    )
    if done.pictures:
        count = done.pictures
        context.display.note(f"{count} picture{'s' if count != 1 else ''} attached again for your next message.")


@commands.command(
    "rewind",
    "Go back to before your message N (from /history; alone: choose it) to edit it; a new session branches there.",
    usage="[N]",
)
def rewind_(context: CommandContext, argument: str) -> None:
    if not context.chat.conversation.turns:
        context.display.info("Nothing to go back to yet.")
        return
    index = _turn_index(context, argument.strip())
    if index is None:
        index = _choose_message(context)
        if index is None:
            return
    before = context.chat.conversation.in_force
    done = rewind(context.chat, index)
    context.state.pending_input = ""  # it goes in the input line, not only behind ↑
    context.state.prefill = done.message
    _branched(context, done, f"Back to before turn {index + 1}")
    now = context.chat.conversation.in_force
    if now.but(web=before.web) != before:  # web search is the conversation's: a rewind keeps it
        thinking = context.chat.profile(fetch=False).thinking_label(now.thinking)
        context.display.note(
            f"The settings are that message's again: {', '.join(filter(None, [now.model, thinking]))}."
        )
    context.display.note("Your message is in the input line: edit it and press Enter (Ctrl-C clears the line).")


@commands.command("fork", "Copy this conversation into a new session and go on there (this one stays as it is).")
def fork_(context: CommandContext, argument: str) -> None:
    if argument:
        raise CommandError("/fork takes nothing.")
    if not context.chat.conversation.turns:
        context.display.info("Nothing to fork yet: send a message first.")
        return
    _branched(context, fork(context.chat), "Forked")


@commands.command(
    "title", "Show the session's title; with TEXT, set it; 'clear': from the first message again.", usage="[TEXT|clear]"
)
def title(context: CommandContext, argument: str) -> None:
    conversation = context.chat.conversation
    if argument.strip() == "clear":
        shown = give_title(context.chat, "")
        context.display.info(f"Title: {shown or 'none yet'} (from your first message)")
        return
    if argument.strip():
        context.display.info(f"Title: {give_title(context.chat, argument)}")
        return
    if not conversation.title:
        context.display.info("No title yet: the first message gives one (/title TEXT sets one now).")
        return
    how = {"user": "set with /title", "model": "given by the model"}.get(conversation.named_by or "", "")
    context.display.info(f"Title: {conversation.title} ({how or 'from your first message'})")
