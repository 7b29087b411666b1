"""Conversations on disk: the lossless JSON form, the Markdown form to read, the HTML page to share.

The JSON and Markdown forms load back to the same turns (the Markdown form keeps pictures' names, not their
data: :mod:`kimi_repl.transcript_markdown`); the page is for people only (:mod:`kimi_repl.page`). Files are
untrusted input: everything read is checked (:mod:`kimi_repl.transcript_format`), and a bad file is refused with
one line, leaving the current conversation alone.

The API key is removed from text values before anything is written (:mod:`kimi_repl.redaction`); a header
saying ``"redaction": "values"`` marks files written so. Older files had it replaced in their raw text, ids and
numbers included: with a short key they could not be read; they are repaired on loading when the key is known
(:func:`~kimi_repl.transcript_format.repaired`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kimi_repl.conversation import Conversation
from kimi_repl.records import TranscriptError as TranscriptError  # where the other modules find it
from kimi_repl.records import encode, redacted, turn_record
from kimi_repl.redaction import REDACTED as REDACTED  # where files say the key was
from kimi_repl.redaction import Secret
from kimi_repl.safefiles import read_regular_file, write_file
from kimi_repl.sanitize import json_dumps
from kimi_repl.transcript_format import JSON_VERSION, conversation_from_document, header_record, repaired
from kimi_repl.transcript_format import OLD_REDACTION as OLD_REDACTION  # where the session reader finds it

MAX_FILE_BYTES = 1024 * 1024 * 1024


def to_markdown(conversation: Conversation) -> str:
    """The Markdown transcript to read (:mod:`kimi_repl.transcript_markdown`, loaded when first wanted: not at
    start-up)."""
    from kimi_repl.transcript_markdown import to_markdown as write

    return write(conversation)


def to_html(conversation: Conversation) -> str:
    """The page to share (:mod:`kimi_repl.page`, loaded when first wanted)."""
    from kimi_repl.page import to_html as write

    return write(conversation)


def to_json(conversation: Conversation) -> str:
    """The lossless JSON transcript."""
    document = {**header_record(conversation, JSON_VERSION), "turns": [turn_record(t) for t in conversation.turns]}
    return json_dumps(document, indent=1) + "\n"


def from_json(text: str, where: str, *, key: str | None = None) -> Conversation:
    """Read a JSON transcript written by :func:`to_json` (one written by an older kimi-repl with the short ``key``
    is repaired: see :func:`repaired`).

    Raises:
        TranscriptError: not JSON, or not a kimi-repl transcript.
    """
    return repaired(_from_json, text, where, key)


def _from_json(text: str, where: str) -> tuple[Conversation, Any]:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise TranscriptError(f"{where} is not valid JSON ({error})") from None
    return conversation_from_document(document, where), document.get("redaction")


def from_markdown(text: str, where: str, *, key: str | None = None) -> Conversation:
    """Read a Markdown transcript written by :func:`to_markdown`, or by an older kimi-repl (one written with the
    short ``key`` is repaired: see :func:`repaired`).

    Raises:
        TranscriptError: the text is not a kimi-repl Markdown transcript.
    """
    from kimi_repl.transcript_markdown import read_markdown

    return repaired(read_markdown, text, where, key)


# -- files -----------------------------------------------------------------------------------------


def read_text(path: Path) -> str:
    """The text of a file to load, refusing what is missing, unreadable, binary or too big.

    Raises:
        TranscriptError: with one line saying which.
    """
    data = read_regular_file(path, max_bytes=MAX_FILE_BYTES, kind="a transcript", error=TranscriptError)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise TranscriptError(f"{path} is not a text file (not UTF-8)") from None


FORMS = {".json": ("JSON", to_json), ".html": ("HTML", to_html), ".htm": ("HTML", to_html)}
"""The form each file suffix saves in (any other: Markdown), and its name."""


def save(conversation: Conversation, path: Path, *, overwrite: bool, secret: str | None) -> str:
    """Write ``conversation`` to ``path`` in the form its suffix names (:data:`FORMS`; Markdown for any other),
    without the API key ``secret``; return the form's name."""
    kind, write = FORMS.get(path.suffix.lower(), ("Markdown", to_markdown))
    text = write(redacted(conversation, Secret(secret)))
    try:
        write_file(path, encode(text), overwrite=overwrite, error=TranscriptError)
    except TranscriptError as error:
        if not overwrite and str(error).endswith("already exists"):
            raise TranscriptError(f"{error}; use /save! to replace it") from None
        raise
    return kind
