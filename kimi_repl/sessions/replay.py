"""Reading a session file back: :func:`replay_lines` streams it line by line, repairs what an older kimi-repl
mangled, and stops at damage with a note; :func:`load_file` loads any file /load takes (a session, or a JSON or
Markdown transcript)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

from kimi_repl.conversation import Conversation, Turn
from kimi_repl.identity import Origin, title_of
from kimi_repl.profile import DEFAULT_MODEL
from kimi_repl.records import (
    TranscriptError,
    apply_settings,
    document_from_record,
    moment,
    output_from_record,
    turn_from_record,
)
from kimi_repl.redaction import MIN_SECRET_CHARS, REDACTED, Secret, unredact
from kimi_repl.safefiles import CHUNK_BYTES, open_regular
from kimi_repl.sessions.format import (
    EVENTS,
    MARKER,
    SAFE_ID,
    SESSION_FORMAT,
    SESSION_VERSION,
    NewerFormat,
    in_force,
    origin_of,
)
from kimi_repl.sessions.lines import Line, chunks_of, limit_text, split_lines
from kimi_repl.transcript import MAX_FILE_BYTES, OLD_REDACTION, from_json, from_markdown


@dataclass
class Replay:
    """What a session file holds, as far as it can be read.

    Attributes:
        pending: the text of a last message that never got its reply ("" if none); it is not in
            ``conversation.turns``.
        good_bytes: how much of the file replayed (everything before the first damaged line).
        ends_with_newline: what replayed ends with a newline (else appending would glue onto its last line).
        damaged_line: the first line that could not be read, or None.
        damage_buried: valid lines followed the damage (not just a torn last write).
        too_long: the damaged line is longer than :data:`~kimi_repl.sessions.lines.MAX_LINE_BYTES`.
        mangled: the damaged line is an older kimi-repl's redaction of a key that is not known (see the module):
            it and what follows are left as they are.
        version: the format version the file's header says.
        repaired: lines an older kimi-repl's redaction had mangled, put right with the key.
        holds_key: some line holds the key the replay was asked to watch for.
    """

    conversation: Conversation
    pending: str = ""
    good_bytes: int = 0
    ends_with_newline: bool = True
    damaged_line: int | None = None
    damage_buried: bool = False
    too_long: bool = False
    mangled: bool = False
    version: int = SESSION_VERSION
    repaired: int = 0
    holds_key: bool = False
    notes: list[str] = field(default_factory=list)


def replay(data: bytes, where: str, *, name: str | None = None, key: str | None = None, slim: bool = False) -> Replay:
    """Replay a session file's bytes: see :func:`replay_lines`."""
    return replay_lines(split_lines([data]), where, name=name, key=key, slim=slim)


def replay_lines(
    lines: Iterable[Line],
    where: str,
    *,
    name: str | None = None,
    key: str | None = None,
    slim: bool = False,
    watch: Secret | None = None,
) -> Replay:
    """Replay a session file, line by line.

    A version 2 file written with a short key had the key replaced by ``[API key removed]`` everywhere; its lines
    are repaired with the key the header's id gives away (compared with ``name``, the file's name, which is its
    id) or else with ``key``, the short key in use now (:func:`~kimi_repl.redaction.unredact` checks each).

    Args:
        slim: keep of each turn only what a listing shows (the first line of a message), not its text.
        watch: the key to look for (:attr:`Replay.holds_key`).

    Raises:
        TranscriptError: not a kimi-repl session file (nothing of one could be read), or a newer format.
    """
    result = Replay(Conversation(model=DEFAULT_MODEL))
    conversation = result.conversation
    pending = [""]  # the message taken back to the prompt, as the last withdraw said
    header_seen = False
    header_mangled = False
    keys: list[str] = []  # keys an older kimi-repl's redaction may have replaced in this file
    iterator = iter(lines)
    for number, line in enumerate(iterator, 1):
        text = line.text
        if text is not None and not text.strip():
            result.good_bytes, result.ends_with_newline = line.end, line.newline
            continue
        try:
            if text is None:
                result.too_long = True
                raise ValueError("too long")
            if not header_seen:
                header_mangled = MARKER in text
                keys = _old_keys(text, name, key)
            record, fixed = _parse(text, keys)
            if header_seen:
                if result.version < SESSION_VERSION and MARKER in text and record.get("event") not in EVENTS:
                    raise ValueError("an event mangled by an older kimi-repl's redaction")
                _apply(conversation, record, f"{where}, line {number}", pending, slim)
            else:
                result.version = _read_header(conversation, record, where)
                if name is not None and SAFE_ID.fullmatch(name):
                    conversation.id = name  # a file in the folder is the session its name says, whatever it holds
                header_seen = True
                if result.version >= SESSION_VERSION:
                    keys = []  # written since redaction leaves the structure alone: nothing to repair
            result.repaired += fixed
            if watch and watch.found_in(text.decode("utf-8", "replace")):
                result.holds_key = True
        except NewerFormat:
            raise
        except (TranscriptError, ValueError, RecursionError):
            result.damaged_line = number
            if header_seen and result.version < SESSION_VERSION and text and MARKER in text and line.newline:
                result.mangled = True  # a whole line, not a torn write: its key is not known
            result.damage_buried = any(rest.text is None or rest.text.strip() for rest in iterator)
            break
        result.good_bytes, result.ends_with_newline = line.end, line.newline
    if not header_seen:
        if header_mangled:
            raise TranscriptError(f"{where} cannot be read: {OLD_REDACTION}")
        if result.too_long:
            raise TranscriptError(f"{where} is not a kimi-repl session file (its first line is over {limit_text()})")
        raise TranscriptError(f"{where} is not a kimi-repl session file (or nothing of it was written)")
    if result.damaged_line is not None and (result.damage_buried or result.too_long or result.mangled):
        why = (
            f" (it is longer than {limit_text()}, more than a session line can be)"
            if result.too_long
            else f" ({OLD_REDACTION})"
            if result.mangled
            else ""
        )
        result.notes.append(
            f"⚠ {where} is damaged at line {result.damaged_line}{why}: what came before it is loaded, the rest is not."
        )
    last = conversation.turns[-1] if conversation.turns else None
    if last is not None and last.role == "user":
        result.pending = conversation.remove_last(1)[0].content
    else:
        result.pending = pending[0]
    return result


def _old_keys(header: bytes, name: str | None, key: str | None) -> list[str]:
    """The keys an older kimi-repl may have replaced everywhere in a file: first the one its mangled ``header``
    gives away (its id, with the key put back, must be ``name``), then ``key`` if it is short."""
    keys: list[str] = []
    # A session id is about 20 characters: a longer name (a /load of any file) is no id, and its substrings
    # would make this quadratic.
    if name and len(name) <= 64 and MARKER in header and name.encode() not in header:
        text = header.decode("utf-8", "replace")
        sizes = range(min(len(name), MIN_SECRET_CHARS - 1), 0, -1)
        for candidate in dict.fromkeys(name[start : start + size] for size in sizes for start in range(len(name))):
            if not candidate or name.replace(candidate, REDACTED) not in text:
                continue  # the id, mangled with this key, is not in the header
            restored = unredact(text, candidate)
            with contextlib.suppress(ValueError, RecursionError, AttributeError):
                if restored is not None and json.loads(restored).get("id") == name:
                    keys.append(candidate)
                    break
    if key and len(key) < MIN_SECRET_CHARS and key not in keys:
        keys.append(key)
    return keys


def _parse(line: bytes, keys: list[str]) -> tuple[dict[str, Any], bool]:
    """The record on ``line``, and whether it had to be repaired with one of ``keys`` (see :func:`_old_keys`).

    Raises:
        ValueError, RecursionError: it is not a JSON object, repaired or not.
    """
    if keys and MARKER in line:
        text = line.decode("utf-8", "replace")
        for key in keys:
            restored = unredact(text, key)
            if restored is None:
                continue
            with contextlib.suppress(ValueError, RecursionError):
                record = json.loads(restored)
                if isinstance(record, dict):
                    return record, True
    record = json.loads(line)
    if not isinstance(record, dict):
        raise ValueError("not an object")
    return record, False


def _read_header(conversation: Conversation, record: dict[str, Any], where: str) -> int:
    """Take the id and time from a header; return its format version."""
    if record.get("event") != "session" or record.get("format") != SESSION_FORMAT:
        raise ValueError("not a session header")
    version = record.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version > SESSION_VERSION:
        raise NewerFormat(f"{where} was written by a newer kimi-repl (format version {version})")
    session_id = record.get("id")
    if isinstance(session_id, str) and SAFE_ID.fullmatch(session_id):
        conversation.id = session_id  # shown and typed back (never a path): a plain name only
    created = record.get("created")
    if isinstance(created, (int, float)) and not isinstance(created, bool):
        conversation.created = moment(created)
    conversation.origin = _origin(record.get("origin"))
    return version


def _origin(data: Any) -> Origin | None:
    """Where a header says the session branched from; None when it says nothing that can be trusted."""
    return origin_of(data.get("id"), data.get("turns"), data.get("how")) if isinstance(data, dict) else None


def _turn_defaults(conversation: Conversation) -> dict[str, Any]:
    """What a turn record leaves out: the settings in force (as :func:`in_force` has them, but quicker)."""
    return {
        "model": conversation.model,
        "temperature": conversation.temperature,
        "system": conversation.system,
        "thinking": conversation.thinking,
    }


def _gist(turn: Turn) -> Turn:
    """``turn``, a fresh one, cut down to what a listing needs: its role, and a message's title (see
    :func:`title_of`)."""
    turn.content = title_of(turn.content) if turn.role == "user" else ""
    turn.reasoning_content, turn.images, turn.searches, turn.usage, turn.spent = "", [], [], None, None
    turn.outputs = []
    return turn


def _apply(conversation: Conversation, record: dict[str, Any], place: str, pending: list[str], slim: bool) -> None:
    """Replay one event, keeping the turns alternating whatever the file says.

    Args:
        pending: holds the message last taken back to the prompt (updated here).
        slim: keep only the gist of turns (:func:`_gist`).

    Raises:
        TranscriptError, ValueError: the record is damaged.
    """
    event = record.get("event")
    turns = conversation.turns
    if event == "settings":
        apply_settings(conversation, {**in_force(conversation), **record}, place)
    elif event == "turn":
        turn = turn_from_record({**_turn_defaults(conversation), **record}, place)
        if slim:
            turn = _gist(turn)
        if turns and turns[-1].role == turn.role:
            turns.pop()  # an unanswered message sent again, or a reply written twice: the later one counts
        if turn.role == "user" or turns:
            turns.append(turn)
        if turn.role == "user":
            pending[0] = ""  # the next message was sent: nothing waits at the prompt any more
            conversation.outputs.clear()  # the outputs waiting went with it
    elif event == "withdraw":
        text = record.get("pending", "")
        if not isinstance(text, str):
            raise ValueError("a damaged withdraw")
        if turns and turns[-1].role == "user":
            taken = conversation.withdraw_user()
            text = text or taken
        pending[0] = text
    elif event == "undo":
        count = record.get("turns")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ValueError("a damaged undo")
        conversation.remove_last(count)
    elif event == "document":
        conversation.documents.append(document_from_record(record, place))
    elif event == "title":
        title, by = record.get("title"), record.get("by")
        if not isinstance(title, str) or by not in ("user", "model", None):
            raise ValueError("a damaged title")
        conversation.name(title, by or "user")
    elif event == "documents_cleared":
        conversation.documents.clear()
    elif event == "output":
        conversation.outputs.append(output_from_record(record, place))
    elif event == "outputs_cleared":
        conversation.outputs.clear()
    elif event == "context":
        start = record.get("context_start")
        if not isinstance(start, int) or isinstance(start, bool):
            raise ValueError("a damaged context")
        conversation.context_start = max(0, min(start, len(turns))) // 2 * 2
    conversation.context_start = min(conversation.context_start, len(turns) // 2 * 2)


# -- /load: a session or a transcript -------------------------------------------------------------


def _is_session(start: bytes) -> bool:
    """Whether a file beginning with ``start`` is a session file (its first line an event, or mangled like one)."""
    first = start.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0]
    return first.startswith((b"{", MARKER)) and (b'"event"' in first or MARKER in first)


def load_file(path: Path, *, key: str | None = None) -> tuple[Conversation, str]:
    """Load a JSON or Markdown transcript written by /save, or a session file (read line by line, any size).

    Args:
        key: the API key in use: a file an older kimi-repl wrote with it, when it is short, is repaired.

    Returns:
        The conversation (ending with a reply), and the text of a last message that had no reply ("").

    Raises:
        TranscriptError: with one line saying what is wrong with the file.
    """
    where = str(path)
    fd, _ = open_regular(path, kind="a transcript", error=TranscriptError)
    try:
        start = os.read(fd, CHUNK_BYTES)
        if _is_session(start):
            lines = split_lines(chain([start], chunks_of(fd)))
            result = replay_lines(lines, where, name=path.stem, key=key)
            return result.conversation, result.pending
        data = _read_rest(fd, start, path)
    except OSError as error:
        raise TranscriptError(f"{path} cannot be read: {error.strerror or error}") from None
    finally:
        os.close(fd)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise TranscriptError(f"{path} is not a text file (not UTF-8)") from None
    kind = _transcript_kind(text)
    if kind is None and key and len(key) < MIN_SECRET_CHARS:  # its start mangled by an older kimi-repl?
        kind = _transcript_kind(unredact(text, key) or "")
    if kind == "json":
        conversation = from_json(text, where, key=key)
    elif kind == "markdown":
        conversation = from_markdown(text.lstrip("\ufeff"), where, key=key)
    elif path.suffix.lower() in (".html", ".htm"):
        raise TranscriptError(f"{where} is a page to read, not to load: /load the .md or .json /save wrote")
    else:
        raise TranscriptError(f"{where} is not a kimi-repl transcript (a .json or .md from /save, or a session)")
    return conversation, take_pending(conversation)


def _transcript_kind(text: str) -> str | None:
    start = text.lstrip("\ufeff \t\r\n")
    if start.startswith("{"):
        return "json"
    if start.startswith("<!-- kimi-repl:transcript"):
        return "markdown"
    return None


def _read_rest(fd: int, start: bytes, path: Path) -> bytes:
    """``start`` and the rest of the file ``fd``, refusing more than :data:`MAX_FILE_BYTES` (a transcript is read
    whole)."""
    chunks, total = [start], len(start)
    for chunk in chunks_of(fd):
        total += len(chunk)
        if total > MAX_FILE_BYTES:
            raise TranscriptError(f"{path} is bigger than {MAX_FILE_BYTES // 1_048_576} MB, too big for a transcript")
        chunks.append(chunk)
    return b"".join(chunks)


def take_pending(conversation: Conversation) -> str:
    """Remove a last message that never got its reply, and return its text ("" if there is none)."""
    if conversation.turns and conversation.turns[-1].role == "user":
        return conversation.remove_last(1)[0].content
    return ""
