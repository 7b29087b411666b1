"""/file and /image: documents, pictures (and shell output, listed and cleared with the documents) to ask about."""

from __future__ import annotations

from kimi_repl.commands.context import CommandContext
from kimi_repl.commands.registry import CommandTable
from kimi_repl.commands.shared import path_candidates, user_path
from kimi_repl.commands.shell import describe, short
from kimi_repl.planner import document_tokens, short_tokens
from kimi_repl.safefiles import byte_size

commands = CommandTable()


@commands.command(
    "file",
    "Ask about a document: add PATH to the conversation ('clear' removes them and !COMMAND output; alone, lists them).",
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
        dropped = f" and the output of {ran} command{'s' if ran != 1 else ''}" if ran else ""
        context.display.info(f"Removed {count} document{'s' if count != 1 else ''}{dropped}.")
        return
    path = user_path(argument)
    with context.display.working(f"Reading {path.name} (large or binary files are sent to Moonshot to extract)…"):
        document = context.chat.attached.document(context.chat.conversation, path)
    how = "extracted by Moonshot" if document.file_id else "plain text"
    tokens = short_tokens(document_tokens(document))
    context.display.info(f"Added {document.name} ({how}, about {tokens} tokens); ask about it in your next message.")


@commands.command(
    "image",
    "Attach a picture (PNG, JPEG, WebP, GIF) to the next message; alone, list them; 'clear' drops them.",
    usage="[PATH|clear]",
    arguments=path_candidates,
)
def image(context: CommandContext, argument: str) -> None:
    attached = context.chat.attachments
    if argument == "clear":
        count = len(attached)
        attached.clear()
        context.display.info(f"Dropped {count} picture{'s' if count != 1 else ''}.")
        return
    if argument:
        path = user_path(argument)
        with context.display.working(f"Reading {path.name}…"):
            picture = context.chat.attached.picture(path, context.chat.model)
        size = picture.size
        context.display.info(f"Attached {picture.name} ({picture.mime}, {byte_size(size)}) to your next message.")
        return
    if not attached:
        context.display.info("No pictures attached. /image PATH attaches one to your next message.")
        return
    rows = [(p.name, p.mime, byte_size(p.size)) for p in attached]
    context.display.rows(rows, title="Pictures for your next message (/image clear drops them)")
