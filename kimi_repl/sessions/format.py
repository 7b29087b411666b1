"""What a session file is made of, as the writer and the replay both know it: its header, its events, and the
settings in force that turn records leave out."""

from __future__ import annotations

import re
from typing import Any

from kimi_repl.conversation import Conversation
from kimi_repl.identity import Origin
from kimi_repl.profile import DEFAULT_MODEL
from kimi_repl.records import TranscriptError, apply_settings
from kimi_repl.redaction import REDACTED

SESSION_FORMAT = "kimi-repl-session"
SESSION_VERSION = 3
"""3: records leave out the settings in force; the key is redacted in text values only (see the package)."""
SUFFIX = ".jsonl"
LOCK_SUFFIX = ".lock"
SAFE_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,63}")
TURN_SETTINGS = ("model", "temperature", "system", "thinking")
"""What a turn shares with the settings in force."""
SETTINGS = (*TURN_SETTINGS, "web")
"""What a settings record sets (web search is the conversation's alone, not a turn's)."""
EVENTS = frozenset(
    {
        "settings",
        "turn",
        "withdraw",
        "undo",
        "document",
        "documents_cleared",
        "context",
        "output",
        "outputs_cleared",
        "title",
    }
)
"""Events a session file holds. An older kimi-repl passes over the ones it does not know ("output",
"outputs_cleared": shell output waiting for the next message; "title"), so none of them needs a new version;
nor does the header's "origin" (where a branch came from)."""
MARKER = REDACTED.encode()
"""What an older kimi-repl's redaction put in place of the key, as it is in a file's bytes."""


class NewerFormat(TranscriptError):
    """The file was written by a newer kimi-repl."""


Settings = dict[str, Any]
"""The settings in force, by :data:`SETTINGS` name."""


def origin_of(parent: Any, turns: Any, how: Any) -> Origin | None:
    """The :class:`~kimi_repl.identity.Origin` a file says a session branched from (a plain session id, a
    number of turns, "rewind" or "fork"); None when what it says cannot be trusted."""
    if not (isinstance(parent, str) and SAFE_ID.fullmatch(parent)) or how not in ("rewind", "fork"):
        return None
    if not isinstance(turns, int) or isinstance(turns, bool) or not 0 <= turns <= 10**9:
        return None
    return Origin(parent, turns, how)


def in_force(conversation: Conversation) -> Settings:
    """The conversation's settings."""
    return conversation.in_force.record()


BEFORE_ANY = in_force(Conversation(model=DEFAULT_MODEL, id=""))
"""What is in force before a file's first settings record."""


def put_in_force(record: dict[str, Any], settings: Settings) -> Settings | None:
    """What replaying the settings ``record`` over ``settings`` puts in force (as replay checks and keeps it);
    None if the record is bad."""
    scratch = Conversation(model=DEFAULT_MODEL, id="")
    try:
        apply_settings(scratch, {**settings, **record}, "settings")
    except TranscriptError:
        return None
    return in_force(scratch)
