"""/clear, /history, /undo, /retry, /continue, /copy, /edit: looking at and editing the conversation."""

from __future__ import annotations

import os

from prompt_toolkit.utils import get_cwidth

from kimi_repl.chat import ChatSession
from kimi_repl.commands.registry import CommandError, CommandRegistry
from kimi_repl.commands.settings import check_model_name, model_names
from kimi_repl.conversation import Turn

PREVIEW_CHARS = 70


def turn_rows(turns: list[Turn], *, first_number: int = 1, context_start: int = 0) -> list[tuple[str, ...]]:
    """One compact row per turn: number, who, first line, marks (turns up to ``context_start`` are not sent)."""
    rows: list[tuple[str, ...]] = []
    for number, turn in enumerate(turns, first_number):
        line = turn.first_line
        cut = _cut_to_width(line, PREVIEW_CHARS)
        if cut != line or len(turn.content.strip().splitlines()) > 1:
            line = cut.rstrip() + "…"
        who = "you" if turn.role == "user" else f"kimi ({turn.credit})" if turn.model else "kimi"
        flags = (
            ("not sent", number <= context_start),
            ("interrupted", turn.interrupted),
            ("incomplete", turn.incomplete),
        )
        marks = ", ".join(mark for mark, on in flags if on)
        rows.append((str(number), who, line, marks))
    return rows


def _cut_to_width(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` terminal columns (中文 takes two each)."""
    used = 0
    for index, ch in enumerate(text):
        used += get_cwidth(ch)
        if used > width:
            return text[:index]
    return text


def show_history(session: ChatSession, *, last: int | None = None) -> None:
    """The conversation, compactly (only the ``last`` turns if given)."""
    turns = session.conversation.turns
    shown = turns if last is None else turns[-last:]
    if not shown:
        session.display.info("No messages yet.")
        return
    title = "Conversation" if len(shown) == len(turns) else f"Conversation (last {len(shown)} of {len(turns)} turns)"
    first = len(turns) - len(shown) + 1
    left_out = max(session.conversation.context_start, session.sent_from)
    rows = turn_rows(shown, first_number=first, context_start=left_out)
    session.display.rows(rows, title=title)


def register(registry: CommandRegistry) -> None:
    cmd = registry.command

    @cmd("clear", "Start a new conversation with the same settings.", aliases=("new",))
    def clear(session: ChatSession, argument: str) -> None:
        session.start_new()
        session.display.info("New conversation.")

    @cmd("history", "Show the conversation compactly.")
    def history(session: ChatSession, argument: str) -> None:
        show_history(session)

    @cmd("undo", "Remove the last exchange (your message and its reply).")
    def undo(session: ChatSession, argument: str) -> None:
        removed = session.undo()
        if not removed:
            session.display.info("Nothing to undo.")
            return
        reply = " and its reply" if len(removed) > 1 else ""
        session.display.info(f"Removed your message “{removed[0].first_line[:40]}”{reply}.")

    @cmd(
        "retry",
        "Generate the last reply again (with MODEL, just this once), replacing it.",
        usage="[MODEL]",
        arguments=model_names,
    )
    def retry(session: ChatSession, argument: str) -> None:
        model = check_model_name(argument) if argument else None
        if session.retry(model) is not None and model and model != session.model:
            session.display.note(f"Retried with {model}; the model stays {session.model}.")
        session.display.gap()

    @cmd("continue", "Ask the model to go on with a reply that was cut short, interrupted or incomplete.")
    def continue_(session: ChatSession, argument: str) -> None:
        session.continue_reply()
        session.display.gap()

    @cmd(
        "copy",
        "Copy the last reply to the clipboard; 'code' copies its last code block, 'code N' the Nth.",
        usage="[code [N]]",
        arguments=lambda session, argument: ["code"],
    )
    def copy(session: ChatSession, argument: str) -> None:
        reply = session.conversation.last_reply
        if reply is None:
            session.display.info("There is no reply to copy yet.")
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
        if session.display.copy_to_clipboard(text):
            # The terminal never says whether it took it: the one common reason it does not is tmux's default.
            tmux = " (in tmux only with set -g set-clipboard on)" if os.environ.get("TMUX") else ""
            session.display.info(f"Copied {what} ({len(text)} characters) to the clipboard{tmux}.")
        else:
            session.display.info("Not a terminal: nothing to copy to.")

    @cmd("edit", "Write your next message in $VISUAL or $EDITOR (or Ctrl-X Ctrl-E), from TEXT.", usage="[TEXT]")
    def edit(session: ChatSession, argument: str) -> None:
        session.edit_request = argument


def _block_number(text: str, count: int) -> int:
    """The 0-based index of block ``text`` (1-based, the last when empty) of ``count``.

    Raises:
        CommandError: not a number from 1 to ``count``.
    """
    if not text:
        return count - 1
    if not text.isdigit() or not 1 <= int(text) <= count:
        if count == 1:
            raise CommandError("The last reply has one code block: /copy code copies it.")
        raise CommandError(f"The last reply has {count} code blocks: give a number from 1 to {count}.")
    return int(text) - 1
