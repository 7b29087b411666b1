"""/save, /load, /sessions, /resume: transcripts and autosaved sessions."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from kimi_repl.commands.context import CommandContext
from kimi_repl.commands.registry import CommandError, CommandTable
from kimi_repl.commands.shared import describe_switch, path_candidates, user_path
from kimi_repl.listing import SESSIONS_SHOWN, report_passed_over, show_sessions
from kimi_repl.sessions import SessionStore, load_file
from kimi_repl.transcript import save


def save_command(context: CommandContext, argument: str, *, overwrite: bool) -> None:
    conversation = context.chat.conversation
    if not conversation.turns:
        context.display.info("Nothing to save yet.")
        return
    path = user_path(argument) if argument else Path(f"kimi-{conversation.id}.md")
    kind = save(conversation, path, overwrite=overwrite, secret=context.settings.api_key)
    context.state.saved_to = path
    context.display.info(f"Saved {len(conversation.turns)} turns to {path} ({kind}).")


def resume_path(context: CommandContext, path: Path) -> None:
    """Switch to the session in ``path``, appending to it from now on."""
    context.chat.resume(path)
    conversation = context.chat.conversation
    describe_switch(context, f"Resumed session {conversation.id} “{conversation.title}”")
    if context.chat.client.models_fetched:  # the list is at hand: say now if the session's model is not on it
        warning = context.unlisted_warning(context.chat.model)
        if warning:
            context.display.warning(warning)


def pick_and_resume(context: CommandContext, store: SessionStore) -> None:
    """/resume alone: choose the session from a full-screen list, then resume it as /resume ID does."""
    if context.state.pick is None:
        raise CommandError("/resume alone shows a list, which needs a terminal: give a number in /sessions or an id.")
    from kimi_repl.sessionpicker import SessionPicker  # the full-screen machinery, loaded when it is wanted

    current = context.chat.log.path if context.chat.log is not None else None
    sessions = SessionPicker(store, current=current, secret=context.display.secret)
    if not sessions.sessions:
        context.display.info("No saved sessions yet." if not sessions.problems else "No saved session can be listed.")
        report_passed_over(context.display, sessions.problems, "Not listed")
        return
    chosen = context.state.pick(sessions.picker(time.time()))
    for line in sessions.deleted:
        context.display.info(line)
    if chosen is None:
        return
    if sessions.path(chosen) == current:
        context.display.info("That is the session open here already.")
        return
    resume_path(context, sessions.path(chosen))


def find_session(context: CommandContext, store: SessionStore, key: str) -> Path:
    """The session ``key`` names: a number in the list shown last (a search's, too), else the store's way."""
    key = key.strip()
    if key.isdecimal() and key.isascii() and context.state.listed:
        if not 1 <= int(key) <= len(context.state.listed):
            count = len(context.state.listed)
            raise CommandError(f"The list shown last has {count} sessions: give a number from 1 to {count}.")
        return context.state.listed[int(key) - 1]
    return store.find(key)


def delete_session(context: CommandContext, store: SessionStore, key: str) -> None:
    """Remove the session ``key`` names, after asking."""
    if not key:
        raise CommandError("/sessions delete needs the session's number in /sessions or its id.")
    path = find_session(context, store, key)
    if context.chat.log is not None and path == context.chat.log.path:
        raise CommandError("That is the session open here: /clear first, then delete it.")
    busy = store.open_elsewhere(path)
    if busy:
        raise CommandError(busy[0].upper() + busy[1:] + ".")
    conversation, _ = load_file(path, key=context.settings.api_key)
    about = f"{path.stem} ({len(conversation.turns)} turns: {conversation.title or 'no messages'})"
    if not context.state.confirm(f"Delete session {about}?"):
        context.display.info("Nothing deleted.")
        return
    store.delete(path)
    context.display.info(f"Deleted session {path.stem}.")


commands = CommandTable()


@commands.command(
    "save",
    "Save the conversation: PATH.md to read, PATH.json lossless, PATH.html a page to share; never overwrites.",
    usage="[PATH]",
    arguments=path_candidates,
)
def save_(context: CommandContext, argument: str) -> None:
    save_command(context, argument, overwrite=False)


@commands.command(
    "save!",
    "Save like /save, replacing PATH if it exists (alone: the file saved last, or /save's own name).",
    usage="[PATH]",
    arguments=path_candidates,
)
def save_over(context: CommandContext, argument: str) -> None:
    save_command(context, argument or str(context.state.saved_to or ""), overwrite=True)


@commands.command(
    "load",
    "Load a transcript saved with /save (or a session file) as a new conversation.",
    usage="PATH",
    arguments=path_candidates,
)
def load(context: CommandContext, argument: str) -> None:
    if not argument:
        raise CommandError("/load needs the PATH of a transcript.")
    path = user_path(argument)
    conversation, pending = load_file(path, key=context.settings.api_key)
    context.chat.adopt(conversation, pending=pending)
    describe_switch(context, f"Loaded {path}")


@commands.command(
    "sessions",
    "List recent sessions; with WORDS, those that mention them all; 'delete ID' removes one (it asks).",
    usage="[WORDS|delete ID]",
)
def sessions(context: CommandContext, argument: str) -> None:
    store = context.store
    if store is None:
        raise CommandError("Sessions are not saved in this mode.")
    word, _, rest = argument.partition(" ")
    if word == "delete":
        delete_session(context, store, rest.strip())
        return
    context.state.listed = show_sessions(context.display, store, argument.split(), current=context.chat.conversation.id)


def session_ids(context: CommandContext, argument: str) -> Iterable[str]:
    return [path.stem for path in context.store.paths()[:SESSIONS_SHOWN]] if context.store else []


@commands.command(
    "resume",
    "Switch to a saved session: alone, pick it from a list (type to filter); or by its number in /sessions or its id.",
    usage="[ID]",
    arguments=session_ids,
)
def resume(context: CommandContext, argument: str) -> None:
    if context.store is None:
        raise CommandError("Sessions are not saved in this mode.")
    if not argument.strip():
        pick_and_resume(context, context.store)
        return
    path = find_session(context, context.store, argument)
    resume_path(context, path)
