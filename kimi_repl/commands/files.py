"""/files: what the account stores on the server (Moonshot's Files API), and deleting it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from kimi_repl.client.files import MAX_FILES, NoFilesApi, ServerFile
from kimi_repl.commands.context import CommandContext
from kimi_repl.commands.registry import CommandError, CommandTable
from kimi_repl.errors import UserError
from kimi_repl.safefiles import byte_size

SHOWN = 100
"""The most files /files shows (the rest are counted)."""

commands = CommandTable()


def file_row(entry: ServerFile) -> tuple[str, str, str, str, str]:
    """One row of /files: id, name, size, date, and the status if it is not plain ``ok``."""
    size = byte_size(entry.size) if entry.size is not None else "?"
    when = datetime.fromtimestamp(entry.created_at).strftime("%Y-%m-%d %H:%M") if entry.created_at is not None else "?"
    status = "" if entry.status in ("ok", "") else entry.status
    if entry.purpose and entry.purpose != "file-extract":
        status = f"{entry.purpose} {status}".strip()
    return (entry.id, entry.name or "(no name)", size, when, status)


def listing_lines(files: list[ServerFile], left_out: int) -> tuple[str, list[tuple[str, ...]], str | None]:
    """The title, rows and closing note of /files."""
    count = len(files)
    title = f"Files stored on the server ({count}; Moonshot keeps at most 1,000 an account):"
    rows: list[tuple[str, ...]] = [file_row(entry) for entry in files[:SHOWN]]
    notes = []
    if count > SHOWN:
        notes.append(f"… and {count - SHOWN} more")
    if left_out:
        why = f"past the first {MAX_FILES}, or with an id kimi-repl cannot use"
        notes.append(f"{left_out} more not listed ({why})")
    notes.append("/files delete ID removes one, /files delete all removes every one")
    return title, rows, "; ".join(notes) + "."


def show_files(context: CommandContext) -> None:
    with context.display.working("Asking the server for its files…"):
        files, left_out = context.chat.client.files.list()
    if not files and not left_out:
        context.display.info("No files are stored on the server (kimi-repl deletes its uploads once read).")
        return
    title, rows, note = listing_lines(files, left_out)
    context.display.rows(rows, title=title)
    if note:
        context.display.note(note)


def delete_one(context: CommandContext, file_id: str) -> None:
    try:
        with context.display.working(f"Deleting {file_id}…"):
            gone = context.chat.client.files.delete(file_id)
    except ValueError:
        raise CommandError(f"{file_id[:80]!r} is not a file id; /files lists them.") from None
    if gone:
        context.display.info(f"Deleted {file_id} from the server.")
    else:
        context.display.info(f"The server has no file {file_id}; /files lists what it has.")


def delete_all(context: CommandContext) -> None:
    api = context.chat.client.files
    with context.display.working("Asking the server for its files…"):
        files, left_out = api.list()
    if not files:
        context.display.info("No files are stored on the server: nothing to delete.")
        return
    count = len(files)
    more = f" (and {left_out} more kimi-repl cannot list)" if left_out else ""
    if not context.state.confirm(f"Delete all {count} file{'s' if count != 1 else ''} stored on the server{more}?"):
        context.display.info("Nothing deleted.")
        return
    deleted = 0
    try:
        with context.display.working(f"Deleting {count} files…") as update:
            for number, entry in enumerate(files, 1):
                update(f"Deleting file {number} of {count} ({entry.id})…")
                deleted += api.delete(entry.id)
    except KeyboardInterrupt:
        context.display.note(f"Stopped: deleted {deleted} of {count} files.")
        return
    except UserError as error:
        raise CommandError(f"Deleted {deleted} of {count} files, then: {error}") from None
    context.display.info(f"Deleted {deleted} file{'s' if deleted != 1 else ''} from the server.")


def file_arguments(context: CommandContext, argument: str) -> Iterable[str]:
    return ["delete all"]


@commands.command(
    "files",
    "List the files stored on the server (Moonshot's Files API: name, size, date, id); 'delete ID' removes "
    "one, 'delete all' removes them all (it asks).",
    usage="[delete ID|delete all]",
    arguments=file_arguments,
)
def files_(context: CommandContext, argument: str) -> None:
    word, _, rest = argument.partition(" ")
    rest = rest.strip()
    try:
        if not argument:
            show_files(context)
        elif word == "delete" and rest == "all":
            delete_all(context)
        elif word == "delete" and rest:
            delete_one(context, rest)
        else:
            raise CommandError("/files takes nothing, 'delete ID' or 'delete all'.")
    except NoFilesApi as error:
        context.display.info(str(error))
