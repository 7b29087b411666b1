"""/file and /image: documents, pictures (and shell output, listed and cleared with the documents) to ask about."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from kimi_repl.chat.outcomes import Refused
from kimi_repl.client.files import Progress, ProgressCallback, Stopped
from kimi_repl.commands.context import CommandContext
from kimi_repl.commands.registry import CommandError, CommandTable
from kimi_repl.commands.shared import path_candidates, user_path
from kimi_repl.commands.shell import describe, short
from kimi_repl.conversation import Image
from kimi_repl.documents import Loaded
from kimi_repl.planner import document_tokens, short_tokens
from kimi_repl.safefiles import byte_size

commands = CommandTable()


KINDS = "PDF, DOC/DOCX, XLS/XLSX, PPT/PPTX, EPUB, HTML, TXT/MD, CSV, code, pictures (by OCR)"
"""The kinds of file Moonshot extracts text from (docs/moonshot-api.md)."""


def progress_line(name: str, update: Callable[[str], None]) -> ProgressCallback:
    """What to show beside the spinner as ``name`` is uploaded (a percentage) and then extracted."""
    shown: list[object] = [None]

    def report(progress: Progress) -> None:
        if progress.phase == "upload":
            percent = 100 * progress.done // max(progress.total, 1)
            if shown[0] != percent:
                shown[0] = percent
                update(f"Uploading {name} to Moonshot: {percent}% of {byte_size(progress.total)}")
        elif shown[0] != "extract":
            shown[0] = "extract"
            update(f"Moonshot is extracting the text of {name}…")

    return report


def added(loaded: Loaded) -> str:
    """The line that says a document was added, and where its text came from."""
    document = loaded.document
    tokens = f"about {short_tokens(document_tokens(document))} tokens"
    if loaded.cached is not None:
        day = datetime.fromtimestamp(loaded.cached.extracted_at).strftime("%Y-%m-%d")
        return f"Added {document.name}: Moonshot's text from the cache (extracted {day}, {tokens}), not uploaded again."
    how = f"extracted by Moonshot, {tokens}" if document.file_id else f"plain text, {tokens}"
    return f"Added {document.name} ({how}); ask about it in your next message."


@commands.command(
    "file",
    f"Ask about a document ({KINDS}; at most 100 MB): add PATH to the conversation; extracted text is "
    "cached, so a file is uploaded once ('clear' removes them and !COMMAND output; alone, lists them).",
    usage="[PATH|clear]",
    arguments=path_candidates,
)
def file(context: CommandContext, argument: str) -> None:
    conversation = context.chat.conversation
    documents, outputs = conversation.documents, conversation.outputs
    if not argument:
        if not documents and not outputs:
            context.display.info("No documents. /file PATH adds one.")
            return
        if documents:
            rows = [(d.name, f"about {short_tokens(document_tokens(d))} tokens") for d in documents]
            context.display.rows(rows, title="Documents (sent before every message)")
        if outputs:
            rows = [(f"!{short(o.command)}", describe(o)) for o in outputs]
            context.display.rows(rows, title="Shell output for your next message")
        return
    if argument == "clear":
        count = context.chat.attached.forget_documents(conversation)
        ran = context.chat.attached.forget_outputs(conversation)
        parts = [f"{count} document{'s' if count != 1 else ''}"] if count or not ran else []
        parts += [f"the output of {ran} command{'s' if ran != 1 else ''}"] if ran else []
        context.display.info(f"Removed {' and '.join(parts)}.")
        return
    path = user_path(argument)
    try:
        with context.display.working(f"Reading {path.name}…") as update:
            loaded = context.chat.attached.document(context.chat.conversation, path, progress_line(path.name, update))
    except Stopped as stopped:
        left = "nothing was left on the server" if stopped.cleaned else "its upload may remain on the server (/files)"
        context.display.note(f"Stopped: {path.name} was not added; {left}.")
        return
    if loaded.cache_problem:
        problem = loaded.cache_problem
        context.display.warning(f"⚠ {problem[:1].upper()}{problem[1:]}.")
    context.display.info(added(loaded))


@commands.command(
    "image",
    "Attach a picture (PNG, JPEG, WebP, GIF) to the next message, or 'paste' the clipboard's; alone, list "
    "them; 'clear' drops them.",
    usage="[PATH|paste|clear]",
    arguments=lambda context, argument: [
        *(word for word in ("clear", "paste") if word.startswith(argument)),
        *path_candidates(context, argument),
    ],
)
def image(context: CommandContext, argument: str) -> None:
    attached = context.chat.attachments
    if argument == "clear":
        count = len(attached)
        attached.clear()
        context.display.info(f"Dropped {count} picture{'s' if count != 1 else ''}.")
        return
    if argument == "paste":
        from kimi_repl.clipboard import clipboard_picture

        refusal = context.chat.attached.refusal(context.chat.model)
        if refusal is not None:  # before running any tool
            raise Refused(refusal)
        with context.display.working("Reading the clipboard…"):
            data = clipboard_picture()
        context.display.info(attach_pasted(context, data))
        return
    if argument:
        path = user_path(argument)
        with context.display.working(f"Reading {path.name}…"):
            picture = context.chat.attached.picture(path, context.chat.model)
        context.display.info(attached_line(picture))
        return
    if not attached:
        context.display.info("No pictures attached. /image PATH (or /image paste) attaches one to your next message.")
        return
    rows = [(p.name, p.mime, byte_size(p.size)) for p in attached]
    context.display.rows(rows, title="Pictures for your next message (/image clear drops them)")


def attach_pasted(context: CommandContext, data: bytes) -> str:
    """Attach ``data``, the clipboard's picture (from ``/image paste`` or Ctrl-V), to the next message; return
    the line that says so.

    Raises:
        UserError: it is not a picture that can be sent, or the model takes none (worded here).
    """
    chat = context.chat
    try:
        picture = chat.attached.pasted(data, chat.model, chat.conversation)
    except Refused as refused:
        raise CommandError(context.narrator.refusal(refused.refusal)) from None
    return attached_line(picture)


def attached_line(picture: Image) -> str:
    """``Attached cat.png (image/png, 12 KB) to your next message.``"""
    return f"Attached {picture.name} ({picture.mime}, {byte_size(picture.size)}) to your next message."
