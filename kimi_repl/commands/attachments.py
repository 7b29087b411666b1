"""/file and /image: documents and pictures to ask about."""

from __future__ import annotations

from kimi_repl.chat.outcomes import Refused
from kimi_repl.commands.context import CommandContext
from kimi_repl.commands.registry import CommandError, CommandTable
from kimi_repl.commands.shared import path_candidates, user_path
from kimi_repl.conversation import Image
from kimi_repl.planner import document_tokens, short_tokens
from kimi_repl.safefiles import byte_size

commands = CommandTable()


@commands.command(
    "file",
    "Ask about a document: add PATH to the conversation ('clear' removes them; alone, lists them).",
    usage="[PATH|clear]",
    arguments=path_candidates,
)
def file(context: CommandContext, argument: str) -> None:
    documents = context.chat.conversation.documents
    if not argument:
        if not documents:
            context.display.info("No documents. /file PATH adds one.")
            return
        rows = [(d.name, f"about {short_tokens(document_tokens(d))} tokens") for d in documents]
        context.display.rows(rows, title="Documents (sent before every message)")
        return
    if argument == "clear":
        count = context.chat.attached.forget_documents(context.chat.conversation)
        context.display.info(f"Removed {count} document{'s' if count != 1 else ''}.")
        return
    path = user_path(argument)
    with context.display.working(f"Reading {path.name} (large or binary files are sent to Moonshot to extract)…"):
        document = context.chat.attached.document(context.chat.conversation, path)
    how = "extracted by Moonshot" if document.file_id else "plain text"
    tokens = short_tokens(document_tokens(document))
    context.display.info(f"Added {document.name} ({how}, about {tokens} tokens); ask about it in your next message.")


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
