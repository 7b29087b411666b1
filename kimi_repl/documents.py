"""Files to ask about: small plain text is read directly; anything else goes through Moonshot's extraction.

Either way the result is a :class:`~kimi_repl.conversation.Document` whose content is sent as a system
message before the conversation, as Moonshot's file Q&A documentation does it.
"""

from __future__ import annotations

import json
from pathlib import Path

from kimi_repl.client.client import MoonshotClient
from kimi_repl.client.errors import ChatError
from kimi_repl.conversation import Document
from kimi_repl.errors import UserError
from kimi_repl.safefiles import read_regular_file

MAX_UPLOAD_BYTES = 100 * 1024 * 1024
"""Moonshot's limit for one file."""

MAX_INLINE_BYTES = 64 * 1024
"""Plain text up to this size is read here instead of uploaded."""


class DocumentError(UserError):
    """A file cannot be used as a document."""


def read_file(path: Path) -> bytes:
    """The bytes of a file the user named, or one line saying why not.

    Raises:
        DocumentError: missing, a folder, unreadable, empty or too big.
    """
    data = read_regular_file(path, max_bytes=MAX_UPLOAD_BYTES, kind="a document Moonshot takes", error=DocumentError)
    if not data:
        raise DocumentError(f"{path} is empty")
    return data


def plain_text(data: bytes) -> str | None:
    """``data`` as text if it is small UTF-8 text, else None."""
    if len(data) > MAX_INLINE_BYTES or b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def load_document(path: Path, client: MoonshotClient) -> Document:
    """Read ``path`` into a document: inline if it is small plain text, through Moonshot's extraction otherwise.

    Raises:
        DocumentError: the file cannot be read, or Moonshot could not extract it.
    """
    data = read_file(path)
    text = plain_text(data)
    if text is not None:
        content = json.dumps({"filename": path.name, "content": text, "type": "file"}, ensure_ascii=False)
        return Document(name=path.name, content=content)
    try:
        file_id, content = client.extract_file(path, data)
    except ChatError as error:
        raise DocumentError(f"Moonshot could not read {path.name}: {error}") from None
    if not content.strip():
        raise DocumentError(f"Moonshot found no text in {path.name}")
    return Document(name=path.name, content=content, file_id=file_id)
