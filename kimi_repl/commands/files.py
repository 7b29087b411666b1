"""/save, /load, /sessions, /resume: transcripts and autosaved sessions."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

from kimi_repl.chat import ChatSession
from kimi_repl.commands.conversation import show_history
from kimi_repl.commands.registry import CommandError, CommandRegistry
from kimi_repl.display import Display
from kimi_repl.sessions import SessionStore, load_file
from kimi_repl.transcript import save

SESSIONS_SHOWN = 20
RESUME_PREVIEW_TURNS = 4


def user_path(argument: str) -> Path:
    """The path the user typed: quotes removed, ``~`` expanded, relative to the working directory."""
    text = argument.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]
    return Path(os.path.expanduser(text))


MAX_CANDIDATES = 500


def path_candidates(session: ChatSession, argument: str) -> Iterable[str]:
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


def save_command(session: ChatSession, argument: str, *, overwrite: bool) -> None:
    conversation = session.conversation
    if not conversation.turns:
        session.display.info("Nothing to save yet.")
        return
    path = user_path(argument) if argument else Path(f"kimi-{conversation.id}.md")
    kind = save(conversation, path, overwrite=overwrite, secret=session.settings.api_key)
    session.saved_to = path
    session.display.info(f"Saved {len(conversation.turns)} turns to {path} ({kind}).")


def resume_path(session: ChatSession, path: Path) -> None:
    """Switch to the session in ``path``, appending to it from now on."""
    session.resume(path)
    describe_switch(session, f"Resumed session {session.conversation.id}")


def describe_switch(session: ChatSession, what: str) -> None:
    conversation = session.conversation
    settings = [f"{len(conversation.turns)} turns", f"model {conversation.model}"]
    if conversation.temperature is not None:
        settings.append(f"temperature {conversation.temperature:g}")
    if conversation.thinking is not None:
        settings.append(f"thinking {'on' if conversation.thinking else 'off'}")
    if conversation.web:
        settings.append("web search on")
    if conversation.documents:
        count = len(conversation.documents)
        settings.append(f"{count} document{'s' if count != 1 else ''} (/file lists them)")
    if conversation.system:
        first = " ".join(conversation.system.split())
        settings.append(f"system prompt “{first[:40]}{'…' if len(first) > 40 else ''}” (/system shows it)")
    session.display.info(f"{what}: {', '.join(settings)}.")
    show_history(session, last=RESUME_PREVIEW_TURNS)
    if session.pending_input:
        session.display.note("Your last message never got a reply: ↑ brings it back.")


PROBLEMS_SHOWN = 3


def report_passed_over(display: Display, problems: list[str], what: str) -> None:
    """Say why session files were passed over: a line each, or one line for them all when there are many."""
    if len(problems) <= PROBLEMS_SHOWN:
        for problem in problems:
            display.warning(f"⚠ {what}: {problem}")
    else:
        display.warning(f"⚠ {what}: {len(problems)} session files, such as this one: {problems[0]}")


def show_sessions(
    display: Display, store: SessionStore, words: list[str], *, current: str = "", shell: bool = False
) -> list[Path]:
    """The recent sessions, or those in which every one of ``words`` appears (with the line that matches); then
    why any file was passed over. Returns the sessions listed, in their numbered order (what a number names).

    Args:
        shell: listed for ``kimi-repl --sessions`` (a number there names the plain list: ids are shown to type).
    """
    how = ("-r ID" if words else "-r NUMBER or ID") if shell else "/resume NUMBER or ID"
    if words:
        found = store.scan_for(words, SESSIONS_SHOWN)
        problems = found.problems
        if not found.sessions:
            display.info(f"No session mentions {' and '.join(repr(w) for w in words)}.")
            report_passed_over(display, problems, "Not searched")
            return []
        title = f"Sessions that mention {' and '.join(repr(w) for w in words)} ({how})"
        infos, lines = [info for info, _ in found.sessions], [line for _, line in found.sessions]
    else:
        listing = store.scan(SESSIONS_SHOWN)
        infos, problems = listing.sessions, listing.problems
        if not infos:
            display.info("No saved sessions yet." if not problems else "No saved session can be listed.")
            report_passed_over(display, problems, "Not listed")
            return []
        title, lines = f"Sessions ({how})", [info.title for info in infos]
    rows = []
    width = len(str(len(infos)))
    for number, (info, line) in enumerate(zip(infos, lines, strict=True), 1):
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.modified))
        mark = " ←" if info.id == current else ""
        rows.append((str(number).rjust(width), info.id + mark, when, f"{info.turns} turns", info.model, line))
    display.rows(rows, title=title)
    if not words and len(infos) == SESSIONS_SHOWN:
        more = sum(1 for _ in store.paths()) - SESSIONS_SHOWN
        if more > 0:
            search = "--sessions WORDS" if shell else "/sessions WORDS"
            display.note(f"… and {more} older session file{'s' if more != 1 else ''} ({search} finds them).")
    report_passed_over(display, problems, "Not searched" if words else "Not listed")
    return [info.path for info in infos]


def find_session(session: ChatSession, store: SessionStore, key: str) -> Path:
    """The session ``key`` names: a number in the list shown last (a search's, too), else the store's way."""
    key = key.strip()
    if key.isdigit() and session.listed:
        if not 1 <= int(key) <= len(session.listed):
            count = len(session.listed)
            raise CommandError(f"The list shown last has {count} sessions: give a number from 1 to {count}.")
        return session.listed[int(key) - 1]
    return store.find(key)


def delete_session(session: ChatSession, store: SessionStore, key: str) -> None:
    """Remove the session ``key`` names, after asking."""
    if not key:
        raise CommandError("/sessions delete needs the session's number in /sessions or its id.")
    path = find_session(session, store, key)
    if session.log is not None and path == session.log.path:
        raise CommandError("That is the session open here: /clear first, then delete it.")
    conversation, _ = load_file(path, key=session.settings.api_key)
    about = f"{path.stem} ({len(conversation.turns)} turns: {conversation.title or 'no messages'})"
    if not session.confirm(f"Delete session {about}?"):
        session.display.info("Nothing deleted.")
        return
    store.delete(path)
    session.display.info(f"Deleted session {path.stem}.")


def register(registry: CommandRegistry) -> None:
    cmd = registry.command

    @cmd(
        "save",
        "Save the conversation: PATH.md readable, PATH.json lossless; never overwrites.",
        usage="[PATH]",
        arguments=path_candidates,
    )
    def save_(session: ChatSession, argument: str) -> None:
        save_command(session, argument, overwrite=False)

    @cmd(
        "save!",
        "Save like /save, replacing PATH if it exists (alone: the file saved last).",
        usage="[PATH]",
        arguments=path_candidates,
    )
    def save_over(session: ChatSession, argument: str) -> None:
        if not argument and session.saved_to is None:
            raise CommandError("/save! needs the PATH to replace (alone, it replaces the file saved last).")
        save_command(session, argument or str(session.saved_to), overwrite=True)

    @cmd(
        "load",
        "Load a transcript saved with /save (or a session file) as a new conversation.",
        usage="PATH",
        arguments=path_candidates,
    )
    def load(session: ChatSession, argument: str) -> None:
        if not argument:
            raise CommandError("/load needs the PATH of a transcript.")
        path = user_path(argument)
        conversation, pending = load_file(path, key=session.settings.api_key)
        session.adopt(conversation, pending=pending)
        describe_switch(session, f"Loaded {path}")

    @cmd(
        "sessions",
        "List recent sessions; with WORDS, those that mention them all; 'delete ID' removes one (it asks).",
        usage="[WORDS|delete ID]",
    )
    def sessions(session: ChatSession, argument: str) -> None:
        store = session.store
        if store is None:
            raise CommandError("Sessions are not saved in this mode.")
        word, _, rest = argument.partition(" ")
        if word == "delete":
            delete_session(session, store, rest.strip())
            return
        session.listed = show_sessions(session.display, store, argument.split(), current=session.conversation.id)

    def session_ids(session: ChatSession, argument: str) -> Iterable[str]:
        return [path.stem for path in session.store.paths()[:SESSIONS_SHOWN]] if session.store else []

    @cmd(
        "resume", "Switch to a saved session, by its number in /sessions or its id.", usage="ID", arguments=session_ids
    )
    def resume(session: ChatSession, argument: str) -> None:
        if session.store is None:
            raise CommandError("Sessions are not saved in this mode.")
        if not argument:
            raise CommandError("/resume needs a session number or id; /sessions lists them.")
        path = find_session(session, session.store, argument)
        resume_path(session, path)
