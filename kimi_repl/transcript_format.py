"""The transcript document that the JSON and Markdown forms both hold: its format and version, its header, and
the checked reading of a whole document back into a conversation.

Files are untrusted input: everything read is checked against the schema (:mod:`kimi_repl.records`), and a bad
file is refused with one line, leaving the current conversation alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kimi_repl.conversation import Conversation
from kimi_repl.records import (
    TranscriptError,
    apply_settings,
    check_alternation,
    context_record,
    context_start_from,
    document_from_record,
    moment,
    read_field,
    settings_record,
    turn_from_record,
)
from kimi_repl.redaction import MIN_SECRET_CHARS, REDACTED, unredact

FORMAT = "kimi-repl-transcript"
VERSION = 3
"""The newest version of either form. 3: the Markdown form keeps what /load reads in one block at its end, not
above every turn (versions 1 and 2 still load); 2: it escapes control, bidi and invisible characters."""
JSON_VERSION = 2
"""The JSON form has not changed since version 2: it still says 2, so that an older kimi-repl loads it."""
REDACTION = "values"
"""How the files written now redact the key: in text values only (older files say nothing)."""

OLD_REDACTION = (
    "an older kimi-repl wrote '[API key removed]' in place of a short API key everywhere in it: run kimi-repl "
    "with that key in MOONSHOT_API_KEY to repair it"
)


def header_record(conversation: Conversation, version: int) -> dict[str, Any]:
    """Everything about ``conversation`` but its turns, as JSON-ready data, in a file of ``version`` (a title only
    when one was given: older files have none, and an older kimi-repl reads the rest)."""
    title = {"title": conversation.named, "titled_by": conversation.named_by} if conversation.named else {}
    return {
        "format": FORMAT,
        "version": version,
        "redaction": REDACTION,
        "id": conversation.id,
        "created": conversation.created,
        **title,
        **settings_record(conversation),
        **context_record(conversation),
    }


def repaired(
    read: Callable[[str, str], tuple[Conversation, Any]], text: str, where: str, key: str | None
) -> Conversation:
    """What ``read`` makes of ``text``, a transcript; if an older kimi-repl wrote it with ``key`` (a short key,
    replaced everywhere in the text), what it makes of the text with the key put back.

    ``read`` returns the conversation and the header's ``redaction``: a file that says how it was redacted is
    never repaired.

    Raises:
        TranscriptError: the text cannot be read, repaired or not.
    """
    try:
        conversation, redaction = read(text, where)
    except TranscriptError as error:
        failure: TranscriptError | None = error
    else:
        if redaction == REDACTION:
            return conversation
        failure = None
    restored = unredact(text, key) if key and len(key) < MIN_SECRET_CHARS else None
    if restored is not None:
        try:
            return read(restored, where)[0]
        except TranscriptError:
            pass
    if failure is None:
        return conversation
    if REDACTED in text:
        raise TranscriptError(f"{failure}; {OLD_REDACTION}") from None
    raise failure


def conversation_from_document(data: Any, where: str) -> Conversation:
    """The conversation a transcript's document holds (a header with its ``turns``), checked.

    Raises:
        TranscriptError: it is not a kimi-repl transcript, a newer one, or damaged.
    """
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise TranscriptError(f"{where} is not a kimi-repl transcript")
    version = data.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise TranscriptError(f"{where} was written by a newer kimi-repl (format version {version})")
    raw_turns = data.get("turns")
    if not isinstance(raw_turns, list):
        raise TranscriptError(f"{where} has no list of turns")
    conversation = Conversation(model="")
    apply_settings(conversation, data, where)
    conversation.id = read_field(data, "id", (str,), conversation.id, where)
    conversation.created = moment(read_field(data, "created", (int, float), conversation.created, where))
    title, by = read_field(data, "title", (str,), "", where), data.get("titled_by")
    conversation.name(title, by if by in ("user", "model") else "user")
    conversation.turns = [turn_from_record(item, f"{where}, turn {n}") for n, item in enumerate(raw_turns, 1)]
    check_alternation(conversation.turns, where)
    raw_documents = data.get("documents", [])
    if not isinstance(raw_documents, list):
        raise TranscriptError(f"{where}: 'documents' is not a list")
    conversation.documents = [document_from_record(d, f"{where}, document {n}") for n, d in enumerate(raw_documents, 1)]
    conversation.context_start = context_start_from(data, len(conversation.turns), where)
    return conversation
