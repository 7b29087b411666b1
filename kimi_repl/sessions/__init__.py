"""Autosaved sessions: one append-only JSON Lines file per conversation, in the user's data folder.

What a session file promises, whatever happens (a crash or ``kill -9`` at any byte, a hang-up, a full disk,
a second copy of the program):

- **Every change is one line**, appended and synced before the program goes on: a message when it is sent, a
  reply when it ends or is interrupted, a change of settings, an undo. A line cut short is never valid JSON
  (every record ends with ``}``), so loading replays the lines before the first bad one: what loads is a
  prefix of what was written, and every finished turn written before the damage is in it.
- **Damage never gets buried.** Before appending to a session it resumes, the program cuts a torn tail off,
  so new lines never follow a bad one. A write that fails (a full disk) is undone at once and reported;
  the next write rewrites the whole file from memory (a temporary file, then a rename), so nothing finished
  is lost once writing works again.
- **One writer.** A process holds a lock on ``<id>.lock`` (``flock``) while it writes a session; a second
  copy that wants the same session forks it into a new one and says so.
- **Replay never gives up on its own kind of file:** a message without a reply is the pending message (put
  back at the prompt), a second message in a row replaces an unanswered one, counts are clamped.
- **Settings once per change.** A settings record says what changes of the model, temperature, system prompt,
  thinking choice and web search in force (the first says all of them); a turn record leaves out what the
  settings in force already say, and replay fills it in.
- **Any size.** A file is read line by line, one line of at most
  :data:`~kimi_repl.sessions.lines.MAX_LINE_BYTES` in memory at a time; a session that cannot be read is never
  passed over without a line saying why.
- **Only the user's files.** The folder, and each file read from it, must be ones no one else can change
  (as ssh's StrictModes demands of ``~/.ssh``); files are opened without following symbolic links.

Format versions: 3 (now): turns and settings records leave out what is in force; the key is redacted in text
values only.
2: every turn carried its settings, and the key was replaced in the raw text, ids and numbers too; such a file
is repaired when the key is known (:func:`replay_lines`), and rewritten as version 3 when it is resumed.

Modules: :mod:`.format` (what the writer and the replay share), :mod:`.lines` (bounded line reading),
:mod:`.writer` (:class:`SessionLog`, :class:`SessionLock`), :mod:`.replay` (:func:`replay_lines`, :func:`load_file`),
:mod:`.folder` (:class:`SessionStore`), :mod:`.index` (what each file lists as, kept so that listings of thousands
of sessions are quick; a cache never believed over the files).
"""

from kimi_repl.sessions.folder import Found, Listing, Resumed, SessionInfo, SessionStore
from kimi_repl.sessions.format import SESSION_FORMAT, SESSION_VERSION, SUFFIX, NewerFormat
from kimi_repl.sessions.replay import Replay, load_file, replay, replay_lines, take_pending
from kimi_repl.sessions.writer import SessionBusy, SessionLock, SessionLog

__all__ = [
    "SESSION_FORMAT",
    "SESSION_VERSION",
    "SUFFIX",
    "Found",
    "Listing",
    "NewerFormat",
    "Replay",
    "Resumed",
    "SessionBusy",
    "SessionInfo",
    "SessionLock",
    "SessionLog",
    "SessionStore",
    "load_file",
    "replay",
    "replay_lines",
    "take_pending",
]
