"""Helpers that more than one command group uses: paths, model names, the conversation listed."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from prompt_toolkit.utils import get_cwidth

from kimi_repl.commands.context import CommandContext
from kimi_repl.commands.registry import CommandError
from kimi_repl.conversation import Turn
from kimi_repl.redaction import Secret
from kimi_repl.values import check_model_name as checked_model_name


def user_path(argument: str) -> Path:
    """The path the user typed: quotes removed, ``~`` expanded, relative to the working directory.

    Raises:
        CommandError: it holds a NUL character, which no file name can.
    """
    text = argument.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]
    if "\x00" in text:
        raise CommandError("A path cannot hold a NUL character.")
    return Path(os.path.expanduser(text))


MAX_CANDIDATES = 500


def path_candidates(context: CommandContext, argument: str) -> Iterable[str]:
    """Files and folders that complete the path typed so far (a hostile folder yields fewer, never an error)."""
    folder, _, prefix = argument.rpartition("/")
    base = Path(os.path.expanduser(folder + "/" if folder else "."))
    lead = folder + "/" if folder else ""
    found: list[str] = []
    try:
        with os.scandir(base) as entries:
            for entry in entries:
                if not entry.name.startswith(prefix) or (entry.name.startswith(".") and not prefix.startswith(".")):
                    continue
                try:
                    folder_mark = "/" if entry.is_dir() else ""  # a symlink loop raises here
                except OSError:
                    folder_mark = ""
                found.append(lead + entry.name + folder_mark)
                if len(found) >= MAX_CANDIDATES:
                    break
    except OSError:
        return []
    return sorted(found)


def model_names(context: CommandContext, argument: str = "") -> list[str]:
    """Models from ``GET /models`` (fetched once), else the built-in list, sorted and unique."""
    return context.chat.catalog.names()


def check_model_name(name: str) -> str:
    """``name`` if it can be a model name.

    Raises:
        CommandError: it has spaces, invisible characters, or is too long.
    """
    try:
        return checked_model_name(name)
    except ValueError as error:
        raise CommandError(f"{error}. /models lists them.") from None


PREVIEW_CHARS = 70


def turn_rows(
    turns: list[Turn], secret: Secret, *, first_number: int = 1, context_start: int = 0
) -> list[tuple[str, ...]]:
    """One compact row per turn: number, who, first line (without the key ``secret``: taken out before the line
    is cut), marks (turns up to ``context_start`` are not sent)."""
    rows: list[tuple[str, ...]] = []
    for number, turn in enumerate(turns, first_number):
        line = secret.redact_shown(turn.first_line)
        cut = _cut_to_width(line, PREVIEW_CHARS)
        if cut != line or len(turn.content.strip().splitlines()) > 1:
            line = cut.rstrip() + "…"
        who = "you" if turn.role == "user" else f"kimi ({turn.credit})" if turn.model else "kimi"
        flags = (
            ("not sent", number <= context_start),
            ("interrupted", turn.interrupted),
            ("incomplete", turn.incomplete),
        )
        ran = [f"$ {' '.join(o.command.split())[:40]}" for o in turn.outputs]
        marks = ", ".join([*ran, *(mark for mark, on in flags if on)])
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


def show_history(context: CommandContext, *, last: int | None = None) -> None:
    """The conversation, compactly (only the ``last`` turns if given)."""
    turns = context.chat.conversation.turns
    shown = turns if last is None else turns[-last:]
    if not shown:
        context.display.info("No messages yet.")
        _waiting_outputs(context)
        return
    title = "Conversation" if len(shown) == len(turns) else f"Conversation (last {len(shown)} of {len(turns)} turns)"
    first = len(turns) - len(shown) + 1
    left_out = max(context.chat.conversation.context_start, context.chat.sent_from)
    rows = turn_rows(shown, context.chat.client.secret, first_number=first, context_start=left_out)
    context.display.rows(rows, title=title)
    _waiting_outputs(context)


def _waiting_outputs(context: CommandContext) -> None:
    """A line naming the shell commands whose output waits for the next message, if any."""
    if context.chat.conversation.outputs:
        ran = ", ".join(f"!{' '.join(o.command.split())[:40]}" for o in context.chat.conversation.outputs)
        context.display.note(f"Attached for your next message: the output of {ran} (/file lists it).")


RESUME_PREVIEW_TURNS = 4


def describe_switch(context: CommandContext, what: str) -> None:
    conversation = context.chat.conversation
    settings = [f"{len(conversation.turns)} turns", f"model {conversation.model}"]
    if conversation.temperature is not None:
        settings.append(f"temperature {conversation.temperature:g}")
    thinking = context.chat.profile(fetch=False).thinking_label(conversation.thinking)
    if conversation.thinking is not None and thinking:  # as the model takes it (moonshot-v1 never thinks)
        settings.append(thinking)
    if conversation.web:
        settings.append("web search on")
    if conversation.documents:
        count = len(conversation.documents)
        settings.append(f"{count} document{'s' if count != 1 else ''} (/file lists them)")
    if conversation.system:
        first = " ".join(conversation.system.split())
        settings.append(f"system prompt “{first[:40]}{'…' if len(first) > 40 else ''}” (/system shows it)")
    context.display.info(f"{what}: {', '.join(settings)}.")
    show_history(context, last=RESUME_PREVIEW_TURNS)
    if context.state.pending_input:
        context.display.note("Your last message never got a reply: ↑ brings it back.")
