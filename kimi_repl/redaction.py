"""Keeping the API key out of everything shown, logged or written.

Redaction replaces the key in *text values*, before anything is serialised: never in ids, keys of records or
other structure, so that it cannot corrupt a file. A key shorter than :data:`MIN_SECRET_CHARS` is not treated
as a secret (local servers accept ``1`` or ``x``; replacing every ``1`` would rewrite timestamps and ids).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from typing import Any

MIN_SECRET_CHARS = 16
"""Shorter keys are placeholders for local servers, not secrets: they are never redacted."""

REDACTED = "[API key removed]"

STRUCTURE = frozenset({"event", "format", "version", "id", "role", "mime", "data", "model", "type", "origin"})
"""Record fields that kimi-repl itself fills with ids or structure: never redacted (an image's base64 ``data``
included; a branch's ``origin``: a session id and a number). What a server chose (a finish reason, a file id)
is cleaned like any text."""


_GAP_CHARS = 8
_UNSEEN = "[\\x00-\\x1f\\x7f-\\x9f\\u00ad\\u061c\\u180e\\u200b-\\u200f\\u202a-\\u202e\\u2060-\\u2069\\ufeff]*"
_GAP = f"{_UNSEEN}(?:[*_`\\\\~]{_UNSEEN}){{0,{_GAP_CHARS}}}"
"""What may sit between two characters of a key shown in disguise: what the screen does not show (control,
invisible and bidi characters: any number) and what markdown takes away (emphasis, code, escapes: a few)."""


class Secret:
    """The API key, and the forms it takes in text (as it is, JSON-escaped, Python-escaped).

    A falsy :class:`Secret` (no key, or one too short to be real) redacts nothing.
    """

    __slots__ = ("_disguised", "_forms", "_started", "value")

    def __init__(self, value: str | None) -> None:
        self.value = value if value and len(value) >= MIN_SECRET_CHARS else None
        forms: set[str] = set()
        self._disguised: re.Pattern[str] | None = None
        self._started: re.Pattern[str] | None = None
        if self.value:
            forms = {self.value, json.dumps(self.value)[1:-1], repr(self.value)[1:-1]}
            self._disguised = re.compile(_GAP.join(map(re.escape, self.value)))
            ending = ""
            for character in reversed(self.value[1:]):
                ending = f"(?:{_GAP}{re.escape(character)}{ending})?"
            self._started = re.compile(f"{re.escape(self.value[0])}{ending}{_GAP}\\Z")
        self._forms = tuple(sorted(forms, key=len, reverse=True))

    def __bool__(self) -> bool:
        return self.value is not None

    def __repr__(self) -> str:  # never the key itself
        return f"Secret({'***' if self else None})"

    def found_in(self, text: str) -> bool:
        """Whether ``text`` holds the key in any of its forms."""
        return any(form in text for form in self._forms)

    def redact(self, text: str) -> str:
        """``text`` with every form of the key replaced by :data:`REDACTED`."""
        for form in self._forms:
            if form in text:
                text = text.replace(form, REDACTED)
        return text

    def redact_shown(self, text: str) -> str:
        """``text`` to show with the key taken out even where it is disguised: its characters apart by what the
        screen does not show (control and invisible characters) or markdown takes away (``*``, ``_``, a backtick,
        a backslash: a few)."""
        text = self._redact_disguised(self.redact(text))
        if self._forms and ("&" in text or "%" in text):
            # markdown decodes character references (&#115;k-... shows as the key) and percent-escapes in links
            from urllib.parse import unquote  # not at start-up

            decoded = unquote(html.unescape(text))
            shown = self._redact_disguised(self.redact(decoded))
            if shown != decoded:
                return shown
        return text

    def _redact_disguised(self, text: str) -> str:
        if self._disguised is not None and self._disguised.search(text):
            text = self._disguised.sub(REDACTED, text)
        return text

    def without_partial(self, head: str, tail: str) -> tuple[str, str]:
        """``head`` and ``tail``, the text on either side of a cut, without a piece of the key at the cut (the
        start of one at the end of ``head``, the end of one at the start of ``tail``), which neither side's
        redaction can see."""
        for form in self._forms:
            part = next((k for k in range(min(len(form) - 1, len(head)), 0, -1) if head.endswith(form[:k])), 0)
            head = head[: len(head) - part]
            part = next((k for k in range(min(len(form) - 1, len(tail)), 0, -1) if tail.startswith(form[-k:])), 0)
            tail = tail[part:]
        return head, tail

    def may_start_at(self, text: str) -> int:
        """Where, near its end, ``text`` (already cleaned of what the screen does not show) may hold the
        beginning of the key, disguised by markdown or not, which the next piece of a stream could complete:
        the length of ``text`` when it cannot."""
        if self._started is None:
            return len(text)
        window = max(0, len(text) - len(self._forms[0]) * (_GAP_CHARS + 1))
        found = self._started.search(text, window)
        return found.start() if found else len(text)

    def redact_value(self, value: Any, *, structure: Iterable[str] = STRUCTURE, shown: bool = False) -> Any:
        """``value`` (JSON-ready data) with the key removed from its text values; keys, ids and structure kept.

        Args:
            shown: also where it is disguised (:meth:`redact_shown`): for what will be rendered as markdown.

        Returns the same object when nothing needed redacting (no copy for the common case).
        """
        if not self:
            return value
        return _redact(value, self, frozenset(structure), shown=shown)


MAX_DEPTH = 32
"""Records are a few levels deep; deeper data is none of kimi-repl's own (and recursion must stay bounded)."""


def _redact(value: Any, secret: Secret, structure: frozenset[str], depth: int = 0, *, shown: bool = False) -> Any:
    if isinstance(value, str):
        if shown:
            cleaned = secret.redact_shown(value)
            return value if cleaned == value else cleaned
        return secret.redact(value) if secret.found_in(value) else value
    if depth >= MAX_DEPTH:
        return value
    if isinstance(value, dict):
        changed = {
            key: item if key in structure else _redact(item, secret, _NESTED & structure, depth + 1, shown=shown)
            for key, item in value.items()
        }
        return value if all(changed[key] is value[key] for key in value) else changed
    if isinstance(value, (list, tuple)):
        items = [_redact(item, secret, _NESTED & structure, depth + 1, shown=shown) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value


_NESTED = frozenset({"data", "mime"})
"""The structure kept inside a record too (a picture's base64 and type): a nested ``id`` is a server's, and may
hold anything (a tool call's id is redacted)."""


def unredact(text: str, key: str) -> str | None:
    """``text`` with :data:`REDACTED` put back as ``key``: the inverse of what kimi-repl did before :class:`Secret`.

    It replaced the key everywhere in a file's raw text (ids, numbers, JSON keys), so a file written with a
    short key could not be read. That text holds the key nowhere but under the marker, and putting the key
    back must give a text that the same replacement turns into ``text`` again; otherwise ``key`` is not the
    key that was replaced, and None is returned (as when ``text`` holds no marker).
    """
    if not key or REDACTED not in text:
        return None
    pieces = text.split(REDACTED)
    if any(key in piece for piece in pieces):
        return None
    restored = key.join(pieces)
    return restored if restored.replace(key, REDACTED) == text else None
