"""/file and /image: documents and pictures to ask about."""

from __future__ import annotations

from kimi_repl.chat import ChatSession
from kimi_repl.commands.files import path_candidates, user_path
from kimi_repl.commands.registry import CommandRegistry
from kimi_repl.files import byte_size
from kimi_repl.planner import document_tokens, short_tokens


def register(registry: CommandRegistry) -> None:
    cmd = registry.command

    @cmd(
        "file",
        "Ask about a document: add PATH to the conversation ('clear' removes them; alone, lists them).",
        usage="[PATH|clear]",
        arguments=path_candidates,
    )
    def file(session: ChatSession, argument: str) -> None:
        documents = session.conversation.documents
        if not argument:
            if not documents:
                session.display.info("No documents. /file PATH adds one.")
                return
            rows = [(d.name, f"about {short_tokens(document_tokens(d))} tokens") for d in documents]
            session.display.rows(rows, title="Documents (sent before every message)")
            return
        if argument == "clear":
            count = session.forget_documents()
            session.display.info(f"Removed {count} document{'s' if count != 1 else ''}.")
            return
        path = user_path(argument)
        with session.display.working(f"Reading {path.name} (large or binary files are sent to Moonshot to extract)…"):
            document = session.attach(path)
        how = "extracted by Moonshot" if document.file_id else "plain text"
        tokens = short_tokens(document_tokens(document))
        session.display.info(
            f"Added {document.name} ({how}, about {tokens} tokens); ask about it in your next message."
        )

    @cmd(
        "image",
        "Attach a picture (PNG, JPEG, WebP, GIF) to the next message; alone, list them; 'clear' drops them.",
        usage="[PATH|clear]",
        arguments=path_candidates,
    )
    def image(session: ChatSession, argument: str) -> None:
        attached = session.attachments
        if argument == "clear":
            count = len(attached)
            attached.clear()
            session.display.info(f"Dropped {count} picture{'s' if count != 1 else ''}.")
            return
        if argument:
            path = user_path(argument)
            with session.display.working(f"Reading {path.name}…"):
                picture = session.attach_image(path)
            size = picture.size
            session.display.info(f"Attached {picture.name} ({picture.mime}, {byte_size(size)}) to your next message.")
            return
        if not attached:
            session.display.info("No pictures attached. /image PATH attaches one to your next message.")
            return
        rows = [(p.name, p.mime, byte_size(p.size)) for p in attached]
        session.display.rows(rows, title="Pictures for your next message (/image clear drops them)")
