"""One sanitiser for everything that reaches a terminal, the clipboard or a file a person may read.

Model output, loaded files and server messages are untrusted. Three kinds of characters can take control
or deceive:

- control characters (C0 but tab and newline, DEL, C1): escape sequences move the cursor, retitle the
  window, write the clipboard, end a bracketed paste;
- bidirectional controls (U+202A–U+202E, U+2066–U+2069, the marks U+200E, U+200F, U+061C): they reorder
  what is shown, so code reads differently from what it is ("Trojan Source");
- invisible characters (zero-width spaces and joiners, word joiner, BOM, tag characters): text that looks
  the same but is not, hidden instructions.

Prose loses them (a zero-width joiner between two non-ASCII characters stays: emoji and some scripts need
it). Code and identifiers show them as visible markers (``⟨U+200B⟩``), so nothing hides in them. Files keep
them, escaped reversibly, so a transcript loads back to exactly what was said and ``cat`` shows no tricks.
"""

from __future__ import annotations

import json
import re
from typing import Any

_CONTROL = "\x00-\x08\x0b-\x1f\x7f-\x9f"
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_INVISIBLE = "\u00ad\u180e\u200b\u2060-\u2064\ufeff\U000e0000-\U000e007f"
_JOINERS = "\u200c\u200d"
_LINE_SEPARATORS = "\u2028\u2029"

# A joiner is kept only between two visible non-ASCII characters (👨‍👩, Persian, Indic); next to ASCII (an
# identifier), to a character that is removed, or at either end it is hidden text.
_SHOWN_NON_ASCII = f"[^\\x00-\\x7f{_CONTROL}{_BIDI}{_INVISIBLE}{_JOINERS}{_LINE_SEPARATORS}]"
_LONE_JOINER = f"(?:(?<!{_SHOWN_NON_ASCII})[{_JOINERS}]|[{_JOINERS}](?!{_SHOWN_NON_ASCII}))"
_UNSAFE = re.compile(f"[{_CONTROL}{_BIDI}{_INVISIBLE}{_LINE_SEPARATORS}]|{_LONE_JOINER}")
_UNSAFE_FOR_FILES = re.compile(f"[{_CONTROL}{_BIDI}{_INVISIBLE}{_JOINERS}{_LINE_SEPARATORS}]")


def for_terminal(text: str) -> str:
    """Prose to show: unsafe characters removed (tab and newline kept; line separators become newlines)."""
    text = text.replace("\r\n", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    return _UNSAFE.sub("", text)


_ESCAPE_SEQUENCE = re.compile(
    "\x1b(?:\\[[0-?]*[ -/]*[@-~]?"  # CSI: colours, cursor moves (unfinished: up to where it stops)
    "|[\\]P^_X][^\x07\x1b]*(?:\x07|\x1b\\\\)?"  # OSC, DCS, PM, APC, SOS: titles, clipboard, up to BEL or ST
    "|[ -/]*[0-~]?)"  # the rest: ESC c (reset), ESC ( B, ...
)


def command_output(text: str) -> str:
    """A shell command's output to show and to send: escape sequences removed whole (not just their ESC, which
    would leave ``[31m`` behind), then :func:`for_terminal`. A carriage return alone (a progress bar) goes too."""
    return for_terminal(_ESCAPE_SEQUENCE.sub("", text))


def may_change(text: str) -> bool:
    """Whether :func:`for_terminal` or :func:`marked` may change ``text`` (False: they would not; a quick test
    that also says True for any joiner)."""
    return "\r" in text or _UNSAFE_FOR_FILES.search(text) is not None


def marked(text: str) -> str:
    """Code or an identifier to show: every unsafe character as a visible ``⟨U+XXXX⟩`` (tab and newline kept)."""
    return _UNSAFE.sub(lambda found: _marker(found.group()), text.replace("\r\n", "\n"))


def for_clipboard(text: str) -> str:
    """Text to copy: what the terminal shows of it, so a paste runs nothing and hides nothing."""
    return for_terminal(text)


def one_line(text: str) -> str:
    """A notice: identifiers and server messages, marked, on one line."""
    return " ".join(marked(text).split())


def _marker(ch: str) -> str:
    return f"⟨U+{ord(ch):04X}⟩"


# -- files -----------------------------------------------------------------------------------------


def json_dumps(data: Any, **options: Any) -> str:
    """JSON with every unsafe character escaped as ``\\uXXXX``: still the same data, but ``cat`` shows no tricks."""
    text = json.dumps(data, ensure_ascii=False, **options)
    return _UNSAFE_FOR_FILES.sub(_json_escape, text)


def escaped_in_json(text: str) -> bool:
    """Whether :func:`json_dumps` writes some character of ``text`` escaped (so it is not in the file as it is)."""
    return '"' in text or "\\" in text or bool(_UNSAFE_FOR_FILES.search(text))


def _json_escape(found: re.Match[str]) -> str:
    return json.dumps(found.group())[1:-1]  # \u001b, or a surrogate pair for a tag character


_MARK_OPEN = "⟨"
_FILE_MARKER = re.compile(f"{_MARK_OPEN}(?:({_MARK_OPEN})|U\\+([0-9A-F]{{4,6}})⟩)")


def escape_for_file(text: str) -> str:
    """Text for a readable file (a Markdown transcript): unsafe characters as visible ``⟨U+XXXX⟩`` markers, and
    a literal ``⟨`` doubled, so that :func:`unescape_from_file` gives back exactly ``text``."""
    text = text.replace(_MARK_OPEN, _MARK_OPEN * 2)
    return _UNSAFE_FOR_FILES.sub(lambda found: _marker(found.group()), text)


def unescape_from_file(text: str) -> str:
    """The inverse of :func:`escape_for_file`."""
    return _FILE_MARKER.sub(lambda found: found.group(1) or chr(int(found.group(2), 16)), text)
