"""Files to ask about: small plain text is read directly; anything else goes through Moonshot's extraction.

Either way the result is a :class:`~kimi_repl.conversation.Document` whose content is sent as a system
message before the conversation, as Moonshot's file Q&A documentation does it. Extracted text is cached by the
file's hash (:mod:`kimi_repl.extracts`), so the same file is uploaded once.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from kimi_repl.client.client import MoonshotClient
from kimi_repl.client.errors import ChatError
from kimi_repl.client.files import NoFilesApi, Progress, ProgressCallback
from kimi_repl.conversation import Document
from kimi_repl.errors import UserError
from kimi_repl.extracts import CacheError, Extract, ExtractCache, extraction_source, file_key
from kimi_repl.interrupts import held
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


EXTRACTED_KINDS = frozenset({".pdf", ".doc", ".docx", ".xls", ".xlsx", ".ppt", ".pptx", ".epub", ".rtf", ".odt"})
"""Formats whose text is what Moonshot extracts, never their bytes, however small and plain they look."""

_DOCUMENT_MAGIC = (b"%PDF", b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"{\\rtf")
"""A PDF, a zip (DOCX, XLSX, PPTX, EPUB, ODT), an old Office file, RTF: whatever the name says."""


def plain_text(data: bytes, name: str = "") -> str | None:
    """``data`` as text if it is small UTF-8 text and not a document format (a PDF can be all ASCII: its source
    is not its text), else None."""
    if len(data) > MAX_INLINE_BYTES or b"\x00" in data:
        return None
    if Path(name).suffix.lower() in EXTRACTED_KINDS or data.lstrip()[:8].startswith(_DOCUMENT_MAGIC):
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


@dataclass(frozen=True)
class Loaded:
    """A document read, and where its text came from.

    Attributes:
        cached: the cache entry its text came from (nothing was uploaded), if it did.
        cache_problem: why the text just extracted could not be cached (one line), if it could not.
    """

    document: Document
    cached: Extract | None = None
    cache_problem: str | None = None


def _no_progress(progress: Progress) -> None:
    pass


def load_document(
    path: Path, client: MoonshotClient, *, cache: ExtractCache | None = None, progress: ProgressCallback = _no_progress
) -> Loaded:
    """Read ``path`` into a document: inline if it is small plain text; otherwise the text Moonshot extracted,
    from ``cache`` if this file's bytes were extracted before, else through an upload (then cached).

    Raises:
        DocumentError: the file cannot be read, or Moonshot could not extract it.
        Stopped: Ctrl-C stopped the upload or the extraction (nothing is left on the server if it can help it).
    """
    data = read_file(path)
    text = plain_text(data, path.name)
    if text is not None:
        text = client.secret.redact(text)  # a .env asked about: the key goes in the Authorization header only
        content = json.dumps({"filename": path.name, "content": text, "type": "file"}, ensure_ascii=False)
        return Loaded(Document(name=path.name, content=content))
    key = file_key(data, extraction_source(client.settings.base_url))
    cached = cache.get(key) if cache is not None else None
    if cached is not None and cached.text.strip():
        return Loaded(Document(name=path.name, content=cached.text, file_id=cached.file_id), cached=cached)
    try:
        file_id, content = client.files.extract(path.name, data, progress)
    except NoFilesApi as error:
        hint = "text files up to 64 KB are read here"
        raise DocumentError(f"{error} {path.name} cannot be extracted there ({hint}).") from None
    except ChatError as error:
        raise DocumentError(f"Moonshot could not read {path.name}: {error}") from None
    if not content.strip():
        raise DocumentError(f"Moonshot found no text in {path.name}")
    content = client.secret.redact(content)  # neither sent again nor cached
    problem = None
    if cache is not None:
        with held():  # an entry is written whole or not at all; Ctrl-C waits for it
            try:
                cache.put(Extract(key=key, name=path.name, text=content, file_id=file_id, extracted_at=time.time()))
            except CacheError as error:
                problem = f"the extracted text was not cached: {error}"
    return Loaded(Document(name=path.name, content=content, file_id=file_id), cache_problem=problem)
