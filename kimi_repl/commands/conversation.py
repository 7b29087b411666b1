"""/clear, /history, /undo, /retry, /continue, /copy, /edit: looking at and editing the conversation."""

from __future__ import annotations

import os

from kimi_repl.commands.context import CommandContext
from kimi_repl.commands.registry import CommandError, CommandTable
from kimi_repl.commands.shared import check_model_name, model_names, show_history

commands = CommandTable()


@commands.command("clear", "Start a new conversation with the same settings.", aliases=("new",))
def clear(context: CommandContext, argument: str) -> None:
    context.chat.start_new()
    context.display.info("New conversation.")


@commands.command("history", "Show the conversation compactly.")
def history(context: CommandContext, argument: str) -> None:
    show_history(context)


@commands.command("undo", "Remove the last exchange (your message and its reply).")
def undo(context: CommandContext, argument: str) -> None:
    removed = context.chat.undo()
    if not removed:
        context.display.info("Nothing to undo.")
        return
    reply = " and its reply" if len(removed) > 1 else ""
    context.display.info(f"Removed your message “{removed[0].first_line[:40]}”{reply}.")


@commands.command(
    "retry",
    "Generate the last reply again (with MODEL, just this once), replacing it.",
    usage="[MODEL]",
    arguments=model_names,
)
def retry(context: CommandContext, argument: str) -> None:
    model = check_model_name(argument) if argument else None
    if context.chat.retry(model) is not None and model and model != context.chat.model:
        context.display.note(f"Retried with {model}; the model stays {context.chat.model}.")
    context.display.gap()


@commands.command("continue", "Ask the model to go on with a reply that was cut short, interrupted or incomplete.")
def continue_(context: CommandContext, argument: str) -> None:
    context.chat.continue_reply()
    context.display.gap()


@commands.command(
    "copy",
    "Copy the last reply to the clipboard; 'code' copies its last code block, 'code N' the Nth.",
    usage="[code [N]]",
    arguments=lambda context, argument: ["code"],
)
def copy(context: CommandContext, argument: str) -> None:
    reply = context.chat.conversation.last_reply
    if reply is None:
        context.display.info("There is no reply to copy yet.")
        return
    text, what = reply.content, "the last reply"
    if argument:
        word, _, number = argument.partition(" ")
        if word != "code":
            raise CommandError(f"/copy takes nothing, 'code' or 'code N', not {argument!r}.")
        from kimi_repl.markdown import code_blocks

        blocks = code_blocks(reply.content)
        if not blocks:
            raise CommandError("The last reply has no code block.")
        index = _block_number(number.strip(), len(blocks))
        text, what = blocks[index], f"code block {index + 1} of {len(blocks)}"
    from kimi_repl.clipboard import copy_with_platform_tool
    from kimi_repl.sanitize import for_clipboard

    text = context.chat.client.secret.redact_shown(text)  # what the screen shows: never the key
    tool = copy_with_platform_tool(for_clipboard(text))
    if context.display.copy_to_clipboard(text) and not tool:
        # The terminal never says whether it took it: the one common reason it does not is tmux's default.
        tmux = " (in tmux only with set -g set-clipboard on)" if os.environ.get("TMUX") else ""
        context.display.info(f"Copied {what} ({len(text):,} characters) to the clipboard{tmux}.")
    elif tool:
        context.display.info(f"Copied {what} ({len(text):,} characters) to the clipboard ({tool}).")
    else:
        context.display.info("Not a terminal: nothing to copy to.")


@commands.command(
    "edit", "Write your next message in $VISUAL or $EDITOR (or Ctrl-X Ctrl-E), from TEXT.", usage="[TEXT]"
)
def edit(context: CommandContext, argument: str) -> None:
    context.state.edit_request = argument


def _block_number(text: str, count: int) -> int:
    """The 0-based index of block ``text`` (1-based, the last when empty) of ``count``.

    Raises:
        CommandError: not a number from 1 to ``count``.
    """
    if not text:
        return count - 1
    if not text.isdigit():
        raise CommandError(f"/copy code takes the number of a code block, not {text!r}.")
    if not 1 <= int(text) <= count:
        if count == 1:
            raise CommandError("The last reply has one code block: /copy code copies it.")
        raise CommandError(f"The last reply has {count} code blocks: give a number from 1 to {count}.")
    return int(text) - 1
