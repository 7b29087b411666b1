"""Autosaved sessions: every change on disk as it happens, replayed exactly, crash damage contained."""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kimi_repl.commands.context import CommandContext
from kimi_repl.config import Settings, sessions_dir, state_dir
from kimi_repl.conversation import Conversation, Document, Turn
from kimi_repl.identity import shortened, title_of
from kimi_repl.listing import show_sessions
from kimi_repl.redaction import Secret
from kimi_repl.safefiles import NotPrivate, changeable_by_others
from kimi_repl.sessions import SessionLock, SessionStore, load_file
from kimi_repl.sessions import lines as sess_lines
from kimi_repl.sessions.lines import line_blocks as _blocks
from kimi_repl.sessions.lines import split_lines as _lines
from kimi_repl.transcript import REDACTED, TranscriptError, save
from tests.fake import FakeMoonshot, Script
from tests.helpers import CapturedDisplay
from tests.old_format import ID, OldSessionLog, exchange, sample, write_old


@pytest.fixture
def store(isolated_user: Path, settings: Settings) -> SessionStore:
    return SessionStore(sessions_dir(), secret=settings.api_key)


@pytest.fixture
def saved(settings: Settings, display: CapturedDisplay, store: SessionStore) -> CommandContext:
    return CommandContext.open(settings, display, store=store)


def reloaded(session: CommandContext) -> CommandContext:
    assert session.chat.log is not None
    conversation, _ = load_file(session.chat.log.path)
    assert conversation == session.chat.conversation
    return session


def test_nothing_is_written_before_the_first_message(saved: CommandContext, store: SessionStore) -> None:
    saved.chat.choose(model="moonshot-v1-8k")
    assert store.paths() == []


def test_the_file_follows_every_change_as_it_happens(saved: CommandContext, server: FakeMoonshot) -> None:
    saved.chat.choose(system="Be brief.")
    saved.chat.send("one")
    reloaded(saved)
    saved.chat.choose(model="moonshot-v1-8k")
    saved.chat.choose(temperature=0.2)
    saved.chat.send("two")
    reloaded(saved)
    server.script(Script(status=500, times=3))
    saved.chat.send("three")  # fails: withdrawn
    reloaded(saved)
    saved.chat.retry("kimi-latest")
    reloaded(saved)
    saved.chat.undo()
    saved.chat.choose(system=None)
    conversation = reloaded(saved).chat.conversation
    assert [t.content for t in conversation.turns] == ["one", "Echo 1: one"]
    assert (conversation.model, conversation.temperature, conversation.system) == ("moonshot-v1-8k", 0.2, None)
    assert conversation.turns[0].system == "Be brief."


def test_turns_record_model_temperature_system_usage_and_times(saved: CommandContext) -> None:
    saved.chat.choose(temperature=0.4)
    saved.chat.send("hi")
    assert saved.chat.log is not None
    conversation, _ = load_file(saved.chat.log.path)
    user, reply = conversation.turns
    assert (user.model, user.temperature) == ("kimi-k2.6", 0.4)
    assert reply.usage is not None and reply.usage.total > 0
    assert reply.finished is not None and reply.finished >= reply.created >= user.created


def test_session_files_are_private_and_never_hold_the_key(saved: CommandContext, settings: Settings) -> None:
    saved.chat.send(f"is {settings.api_key} my key?")
    assert saved.chat.log is not None
    path = saved.chat.log.path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    text = path.read_text()
    assert settings.api_key not in text and REDACTED in text


def test_a_torn_last_line_is_skipped_and_everything_before_it_kept(saved: CommandContext) -> None:
    saved.chat.send("one")
    saved.chat.send("two")
    assert saved.chat.log is not None
    with saved.chat.log.path.open("a") as handle:
        handle.write('{"event": "turn", "role": "user", "content": "half wri')
    conversation, pending = load_file(saved.chat.log.path)
    assert [t.content for t in conversation.turns] == ["one", "Echo 1: one", "two", "Echo 2: two"]
    assert pending == ""


def test_damage_before_the_last_line_loads_what_came_before_it(saved: CommandContext) -> None:
    saved.chat.send("one")
    saved.chat.send("two")
    assert saved.chat.log is not None
    lines = saved.chat.log.path.read_text().splitlines()
    saved.chat.log.path.write_text("\n".join([*lines[:4], "{garbage", *lines[4:]]) + "\n")
    conversation, pending = load_file(saved.chat.log.path)
    assert [t.content for t in conversation.turns] == ["one", "Echo 1: one"] and pending == ""


def test_a_message_without_its_reply_comes_back_as_pending(saved: CommandContext, server: FakeMoonshot) -> None:
    saved.chat.send("one")
    assert saved.chat.log is not None
    user = saved.chat.conversation.add_user("the process died here")
    saved.chat.log.turn(user)  # what is on disk when the process is killed mid-reply
    conversation, pending = load_file(saved.chat.log.path)
    assert pending == "the process died here" and len(conversation.turns) == 2


def test_autosave_failure_is_reported_once_and_the_chat_goes_on(
    saved: CommandContext, store: SessionStore, display: CapturedDisplay
) -> None:
    store.folder.rmdir()
    assert saved.chat.send("one") is not None
    assert saved.chat.send("two") is not None
    assert display.output.count("The chat goes on; it is saved as soon as writing works again") == 1
    store.folder.mkdir()
    saved.chat.send("three")
    assert "The session is saved again" in display.output
    assert saved.chat.log is not None
    assert [t.content for t in load_file(saved.chat.log.path)[0].turns][::2] == ["one", "two", "three"]


def test_sessions_are_found_by_number_id_or_prefix(
    settings: Settings, display: CapturedDisplay, store: SessionStore
) -> None:
    ids = ["20261124-090000-aaaa", "20261125-100000-bbbb"]
    for cid, text in zip(ids, ("first", "second"), strict=True):
        session = CommandContext.open(settings, display, store=store)
        session.chat.adopt(Conversation(model=session.chat.model, id=cid))
        session.chat.send(text)
    assert store.find("1").stem == ids[1]  # the most recent first
    assert store.find("2").stem == ids[0]
    assert store.find(ids[0]).stem == ids[0]
    assert store.find("20261124").stem == ids[0]
    with pytest.raises(TranscriptError, match="no saved session"):
        store.find("19990101")
    with pytest.raises(TranscriptError, match="no session number 7"):
        store.find("7")
    with pytest.raises(TranscriptError, match="matches 2 sessions"):
        store.find("2026112")
    with pytest.raises(TranscriptError, match="no saved session '19990101'; /sessions lists them"):
        store.find("19990101")
    with pytest.raises(TranscriptError, match="; kimi-repl --sessions lists them"):
        store.find("19990101", listing="kimi-repl --sessions")  # as -r words it, on the command line
    assert [info.title for info in store.recent()] == ["second", "first"]


def test_resuming_appends_to_the_same_file(settings: Settings, display: CapturedDisplay, store: SessionStore) -> None:
    first = CommandContext.open(settings, display, store=store)
    first.chat.send("one")
    assert first.chat.log is not None
    path = first.chat.log.path
    first.chat.close()
    second = CommandContext.open(settings, display, store=store)
    second.chat.resume(path)
    second.chat.send("two")
    assert store.paths() == [path]
    assert [t.content for t in load_file(path)[0].turns][-1] == "Echo 2: two"


def test_loading_a_transcript_starts_a_new_session_with_its_turns(
    saved: CommandContext, store: SessionStore, tmp_path: Path
) -> None:
    saved.chat.send("one")
    original = saved.chat.conversation.id
    conversation, _ = load_file(saved.chat.log.path if saved.chat.log else tmp_path)
    saved.chat.adopt(conversation)
    assert saved.chat.conversation.id != original
    assert saved.chat.log is not None and saved.chat.log.started
    assert load_file(saved.chat.log.path)[0].turns == conversation.turns
    assert len(store.paths()) == 2


@pytest.mark.parametrize("bad_id", ["../../escaped", "/tmp/absolute", "", "a b"])
def test_an_id_from_a_file_never_leads_outside_the_sessions_folder(
    saved: CommandContext, store: SessionStore, tmp_path: Path, bad_id: str
) -> None:
    saved.chat.adopt(Conversation(model="kimi-latest", id=bad_id))
    saved.chat.send("hello")
    assert saved.chat.log is not None and saved.chat.log.path.parent == store.folder
    assert saved.chat.conversation.id != bad_id


def test_a_new_session_never_writes_into_another_sessions_file(saved: CommandContext, store: SessionStore) -> None:
    saved.chat.send("first")
    taken = saved.chat.conversation.id
    saved.chat.adopt(Conversation(model="kimi-latest", id=taken))
    saved.chat.send("second")
    assert saved.chat.conversation.id != taken
    assert [t.content for t in load_file(store.folder / f"{taken}.jsonl")[0].turns] == ["first", "Echo 1: first"]


# -- the API key: redacted in text values only, old files repaired -----------------------------------------


@pytest.mark.parametrize("key", ["1", "x", "sk-local"])
def test_a_short_key_is_no_secret_and_every_file_loads_back_exactly(tmp_path: Path, key: str) -> None:
    conversation = sample()
    log = SessionStore(tmp_path, secret=key).new_log(conversation)
    log.turn(*conversation.turns)
    log.close()
    assert REDACTED.encode() not in log.path.read_bytes()
    assert load_file(log.path, key=key) == (conversation, "")
    assert [info.id for info in SessionStore(tmp_path, secret=key).recent()] == [ID]
    for name in ("c.json", "c.md"):
        save(conversation, tmp_path / name, overwrite=False, secret=key)
        assert load_file(tmp_path / name, key=key)[0] == conversation


def test_a_key_with_quotes_or_backslashes_never_reaches_a_file(tmp_path: Path) -> None:
    key = 'sk-"quoted"\\back\\slashed-key-0123'
    conversation = Conversation(model="kimi-k2.6", system=f"the key is {key}", id=ID)
    exchange(conversation, f"is {key} mine?", f"{key} is yours")
    conversation.documents.append(Document(name=f"{key}.txt", content=key))
    log = SessionStore(tmp_path, secret=key).new_log(conversation)
    log.turn(*conversation.turns)
    log.close()
    for path in (log.path, tmp_path / "c.json", tmp_path / "c.md"):
        if path.suffix != ".jsonl":
            save(conversation, path, overwrite=False, secret=key)
        data = path.read_text()
        assert not Secret(key).found_in(data) and data.count(REDACTED) >= 4, path
        loaded, _ = load_file(path)
        assert loaded.id == ID and loaded.turns[0].content == f"is {REDACTED} mine?"


def test_the_key_is_removed_from_text_values_never_from_ids(tmp_path: Path) -> None:
    key = "0123456789abcdef0123"
    conversation = Conversation(model="kimi-k2.6", id=f"s-{key}")
    exchange(conversation, f"my key: {key}", "noted")
    log = SessionStore(tmp_path, secret=key).new_log(conversation)
    log.turn(*conversation.turns)
    log.close()
    assert log.path.name == f"s-{key}.jsonl"
    loaded, _ = load_file(log.path)
    assert loaded.id == f"s-{key}" and loaded.turns[0].content == f"my key: {REDACTED}"


@pytest.mark.parametrize(
    ("key", "known"),
    [("1", None), ("2", None), ("-", None), ("a3", None), ("1", "1"), ("x", "x"), ("e", "e"), ('"', '"'), ("}", "}")],
)
def test_an_old_session_mangled_by_a_short_key_loads_repaired(tmp_path: Path, key: str, known: str | None) -> None:
    """A key in the id is given away by the file's name (``known`` None); any other must be the key in use."""
    conversation = sample()
    path = write_old(tmp_path, conversation, key)
    assert key.encode() not in path.read_bytes().replace(REDACTED.encode(), b"")
    assert load_file(path, key=known) == (conversation, "")
    store = SessionStore(tmp_path, secret=known)
    assert [(info.id, info.title) for info in store.recent()] == [
        (ID, 'exactly 1 question? with "quotes", a \\ and 中文')
    ]
    assert store.search(["example"])[0][0].id == ID


def test_an_old_session_resumed_is_rewritten_repaired_and_compact(
    settings: Settings, display: CapturedDisplay, tmp_path: Path
) -> None:
    conversation = sample()
    path = write_old(tmp_path, conversation, "1")
    old_size = path.stat().st_size
    session = CommandContext.open(replace(settings, api_key="1"), display, store=SessionStore(tmp_path, secret="1"))
    session.chat.resume(path)
    assert session.chat.conversation == conversation
    assert "Repaired" in display.output
    data = path.read_bytes()
    assert b'"version": 3' in data.split(b"\n", 1)[0] and REDACTED.encode() not in data
    assert data.count(b"Be brief") == 2 and path.stat().st_size < old_size  # once per change, not per turn
    assert load_file(path) == (conversation, "")  # no key needed any more
    session.chat.close()


def test_what_cannot_be_repaired_is_said_in_one_line_and_the_file_is_left_alone(
    settings: Settings, display: CapturedDisplay, tmp_path: Path
) -> None:
    conversation = sample()
    path = write_old(tmp_path, conversation, "x")  # not in the id: only the key itself repairs it
    conversation.context_start = 2
    old = OldSessionLog(path, conversation, key="x")
    old.started = True
    old.context()  # "context" is mangled into an event no one knows
    before = path.read_bytes()
    session = CommandContext.open(settings, display, store=SessionStore(tmp_path, secret=settings.api_key))
    session.chat.resume(path)
    warnings = [line for line in display.output.splitlines() if "MOONSHOT_API_KEY" in line]
    assert len(warnings) == 1 and "is damaged at line" in warnings[0]
    assert "could not be repaired whole: continuing in a new session" in display.output
    assert session.chat.log is not None and session.chat.log.path != path
    assert path.read_bytes() == before  # left for a run with the key
    assert len(session.chat.conversation.turns) == 4
    session.chat.close()


def test_a_session_whose_header_cannot_be_repaired_is_listed_with_why(tmp_path: Path) -> None:
    conversation = sample()
    conversation.created = 1777777777.0
    write_old(tmp_path, conversation, "7")  # in the header's time, not in its id
    listing = SessionStore(tmp_path, secret=None).scan()
    assert listing.sessions == [] and len(listing.problems) == 1
    assert "cannot be read" in listing.problems[0] and "MOONSHOT_API_KEY" in listing.problems[0]
    assert SessionStore(tmp_path, secret="7").recent()[0].id == ID


def test_a_session_an_older_kimi_repl_left_holding_an_escaped_key_is_rewritten_without_it(
    settings: Settings, display: CapturedDisplay, tmp_path: Path
) -> None:
    key = 'sk-with-"quote"-0123456789'
    conversation = Conversation(model="kimi-k2.6", id=ID)
    exchange(conversation, f"key {key}", "ok")
    path = write_old(tmp_path, conversation, key)
    assert Secret(key).found_in(path.read_text())  # the old bug: written escaped, never found
    session = CommandContext.open(replace(settings, api_key=key), display, store=SessionStore(tmp_path, secret=key))
    session.chat.resume(path)
    assert not Secret(key).found_in(path.read_text())
    session.chat.close()


# -- settings once per change -------------------------------------------------------------------------


def test_the_system_prompt_is_written_once_per_change_not_per_turn(saved: CommandContext) -> None:
    prompt = "Answer as a pirate. " * 10_000  # 200 KB
    saved.chat.choose(system=prompt)
    for text in ("one", "two", "three", "four"):
        saved.chat.send(text)
    assert saved.chat.log is not None
    assert saved.chat.log.path.read_text().count(prompt) == 1
    saved.chat.choose(system=prompt.upper())
    saved.chat.send("five")
    saved.chat.undo()
    saved.chat.send("six")
    data = saved.chat.log.path.read_text()
    assert data.count(prompt) == 1 and data.count(prompt.upper()) == 1
    conversation = reloaded(saved).chat.conversation
    assert [t.system == prompt for t in conversation.turns] == [True] * 8 + [False] * 2


def test_a_whole_rewrite_gives_every_turn_its_own_settings_back(tmp_path: Path) -> None:
    conversation = Conversation(model="kimi-k2.6", id=ID)
    conversation.system = "first prompt " * 1000
    exchange(conversation, "a", "b")
    conversation.model, conversation.temperature, conversation.thinking = "moonshot-v1-8k", 0.7, False
    exchange(conversation, "c", "d")
    conversation.turns[-1].model = "kimi-latest"  # a retry with another model
    conversation.turns[-1].thinking = True
    conversation.system = "second prompt " * 1000
    exchange(conversation, "e", "f")
    conversation.turns[-1].system = "third prompt " * 1000  # a reply sent after a change of prompt
    conversation.turns.append(Turn(role="user", content="from a transcript", model=None, system=None))
    conversation.turns.append(Turn(role="assistant", content="no model named", model="not a model name!"))
    conversation.system = None
    log = SessionStore(tmp_path, secret=None).new_log(conversation)
    log.turn(*conversation.turns)  # the first write is a whole one
    log.close()
    data = log.path.read_text()
    assert load_file(log.path) == (conversation, "")
    for prompt in ("first prompt", "second prompt", "third prompt"):
        assert data.count(prompt + " " * 1) == 1000, prompt  # one copy each
    log.dirty = True
    log.save_whole()
    assert log.path.read_text() == data
    log.close()


def test_old_session_files_with_settings_in_every_turn_still_load(tmp_path: Path) -> None:
    conversation = sample()
    path = write_old(tmp_path, conversation, None)
    data = path.read_text()
    assert data.count('"system": "Be brief."') == 2 and data.count('"system": "Be briefer."') == 3  # in every turn
    assert load_file(path) == (conversation, "")


# -- any size ------------------------------------------------------------------------------------------------


def test_a_session_bigger_than_64_mb_loads_resumes_and_is_listed(
    settings: Settings, display: CapturedDisplay, tmp_path: Path
) -> None:
    conversation = Conversation(model="kimi-k2.6", id=ID)
    answer = "A long answer. " * 700_000  # 10.5 MB a reply
    for number in range(7):
        exchange(conversation, f"question {number}", answer)
    log = SessionStore(tmp_path, secret=None).new_log(conversation)
    log.turn(*conversation.turns)
    log.close()
    assert log.path.stat().st_size > 70 * 1024 * 1024
    store = SessionStore(tmp_path, secret=None)
    assert [(info.id, info.turns, info.title) for info in store.recent()] == [(ID, 14, "question 0")]
    session = CommandContext.open(settings, display, store=store)
    session.chat.resume(log.path)
    assert session.chat.conversation == conversation
    session.chat.send("one more")
    assert len(load_file(log.path)[0].turns) == 16
    session.chat.close()


def test_lines_are_read_with_a_bounded_size_and_a_longer_one_is_damage_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sess_lines, "MAX_LINE_BYTES", 64 * 1024 * 1024)  # the real cap is 1 GB: too much to write here
    conversation = sample()
    path = write_old(tmp_path, conversation, None)
    lines = path.read_bytes().splitlines(keepends=True)
    assert [line.text for line in _lines([b"".join(lines)], limit=10_000)] == [line.rstrip(b"\n") for line in lines]
    chunked = [b"".join(lines)[start : start + 7] for start in range(0, path.stat().st_size, 7)]
    assert [line.text for line in _lines(chunked, limit=10_000)] == [line.rstrip(b"\n") for line in lines]
    longest = max(len(line) for line in lines)
    assert [line.text is None for line in _lines(chunked, limit=longest - 2)] == [
        len(line) - 1 > longest - 2 for line in lines
    ]
    huge = b'{"event": "turn", "role": "user", "content": "' + b"x" * sess_lines.MAX_LINE_BYTES + b'"}\n'
    path.write_bytes(b"".join(lines[:5]) + huge + b"".join(lines[5:]))
    resumed = SessionStore(tmp_path, secret=None).resume(path)
    assert resumed.log is not None and len(resumed.conversation.turns) == 2
    (note,) = resumed.notes
    assert "is damaged at line 6 (it is longer than 64 MB" in note and "\n" not in note
    assert (
        path.with_suffix(".damaged").stat().st_size > sess_lines.MAX_LINE_BYTES
    )  # kept aside before the file is put right
    resumed.log.close()


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")), max_size=12),
    last_newline=st.booleans(),
    cuts=st.lists(st.integers(0, 400), max_size=8),
    limit=st.integers(0, 40),
)
def test_lines_and_blocks_are_the_same_whatever_the_chunks(
    lines: list[bytes], last_newline: bool, cuts: list[int], limit: int
) -> None:
    data = b"\n".join(lines) + (b"\n" if last_newline and lines else b"")
    edges = sorted({0, len(data), *(cut for cut in cuts if cut < len(data))})
    chunks = [data[a:b] for a, b in pairwise(edges)]
    read = list(_lines(chunks, limit))
    assert read == list(_lines([data], limit))
    parts = data.split(b"\n")[: -1 if data.endswith(b"\n") or not data else None]
    assert [line.text for line in read] == [line if len(line) <= limit else None for line in parts]
    limit = max(limit, *map(len, chunks), 0)  # blocks only leave out lines that span chunks
    kept = b"".join(
        line.text + (b"\n" if line.newline else b"") for line in _lines(chunks, limit) if line.text is not None
    )
    assert b"".join(_blocks(chunks, limit)) == kept


# -- listing never passes a session over silently ----------------------------------------------------------


def test_listing_and_continuing_say_why_each_file_is_passed_over(
    settings: Settings, display: CapturedDisplay, store: SessionStore, tmp_path: Path
) -> None:
    conversation = sample()
    good = store.new_log(conversation)
    good.turn(*conversation.turns)
    good.close()
    folder = store.folder
    (folder / "open.jsonl").write_bytes(good.path.read_bytes())
    (folder / "open.jsonl").chmod(0o666)
    (folder / "garbage.jsonl").write_text("not a session\n")
    (folder / "torn.jsonl").write_bytes(good.path.read_bytes()[:200])
    (tmp_path / "elsewhere.jsonl").write_bytes(good.path.read_bytes())
    (folder / "link.jsonl").symlink_to(tmp_path / "elsewhere.jsonl")
    listing = store.scan()
    assert [info.id for info in listing.sessions] == [ID]
    reasons = "\n".join(listing.problems)
    assert len(listing.problems) == 4, reasons
    for expected in (
        "open.jsonl can be changed by its group and others (mode 0666), so kimi-repl does not trust it (chmod 600 ",
        "garbage.jsonl is not a kimi-repl session file",
        "torn.jsonl is damaged at line 2, before anything in it",
        "link.jsonl is a symbolic link, not a session file",
    ):
        assert expected in reasons
    show_sessions(display, store, [])
    assert "Not listed: 4 session files, such as this one:" in display.output
    assert display.output.count("⚠") == 1
    display.forget()
    (folder / "garbage.jsonl").unlink()
    (folder / "torn.jsonl").unlink()
    show_sessions(display, store, [])
    assert display.output.count("⚠ Not listed: ") == 2
    display.forget()
    show_sessions(display, store, ["question"])
    assert display.output.count("⚠ Not searched: ") == 2


# -- only the user's files -------------------------------------------------------------------------------

posix = pytest.mark.skipif(not hasattr(os, "getuid"), reason="no POSIX owners and modes here")


as_root = pytest.mark.skipif(
    not hasattr(os, "getuid") or os.getuid() != 0, reason="playing someone else (chown) takes root"
)


SOMEONE_ELSE = 65534


@posix
def test_kimi_repl_folders_are_private_whatever_the_umask(isolated_user: Path) -> None:
    previous = os.umask(0)
    try:
        made = [sessions_dir(), state_dir()]
    finally:
        os.umask(previous)
    for folder in [*made, *made[0].parents, *made[1].parents]:
        if isolated_user in folder.parents:  # every folder under the home: all were created here
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


@posix
def test_a_sessions_folder_others_can_change_is_refused_with_how_to_fix_it(isolated_user: Path) -> None:
    folder = sessions_dir()
    folder.chmod(0o777)
    with pytest.raises(NotPrivate) as caught:
        SessionStore(folder, secret=None)
    message = str(caught.value)
    assert "can be changed by its group and others (mode 0777)" in message and f"chmod 700 {folder}" in message
    assert "\n" not in message
    folder.chmod(0o770)
    with pytest.raises(NotPrivate, match="can be changed by its group"):
        SessionStore(folder, secret=None)


@as_root
def test_a_sessions_folder_or_a_link_to_one_of_someone_else_is_refused(isolated_user: Path, tmp_path: Path) -> None:
    folder = sessions_dir()
    os.chown(folder, SOMEONE_ELSE, SOMEONE_ELSE)
    with pytest.raises(NotPrivate, match=f"belongs to user {SOMEONE_ELSE}, not to you, .*: remove it or make it yours"):
        SessionStore(folder, secret=None)
    folder.rmdir()
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, SOMEONE_ELSE, SOMEONE_ELSE)
    folder.symlink_to(theirs)
    with pytest.raises(NotPrivate, match=f"a link to {theirs}\\) belongs to .*: point it at a folder of yours"):
        SessionStore(sessions_dir(), secret=None)
    os.chown(theirs, 0, 0)
    assert SessionStore(sessions_dir(), secret=None).folder == theirs  # a link to a folder of one's own is fine


@posix
def test_a_session_file_others_can_change_is_neither_resumed_nor_appended_to(
    saved: CommandContext, store: SessionStore
) -> None:
    saved.chat.send("one")
    assert saved.chat.log is not None
    path = saved.chat.log.path
    saved.chat.close()
    path.chmod(0o666)
    before = path.read_bytes()
    with pytest.raises(
        TranscriptError, match=f"can be changed by its group and others \\(mode 0666\\).*chmod 600 {path}"
    ):
        store.resume(path)
    assert store.latest() is None and path.read_bytes() == before
    path.chmod(0o600)
    assert store.latest() == path


@as_root
def test_a_session_file_of_someone_else_is_not_resumed_nor_appended_to_but_replaced_by_ones_own(
    saved: CommandContext, store: SessionStore, display: CapturedDisplay
) -> None:
    saved.chat.send("one")
    assert saved.chat.log is not None
    path = saved.chat.log.path
    os.chown(path, SOMEONE_ELSE, SOMEONE_ELSE)
    with pytest.raises(TranscriptError, match=f"belongs to user {SOMEONE_ELSE}, not to you.*remove it"):
        store.resume(path)
    saved.chat.choose(temperature=0.5)  # the write that finds it
    assert f"autosave to {path} stopped: it belongs to user {SOMEONE_ELSE}, not to you" in display.output
    saved.chat.send("two")  # the next writes the whole session anew, in a file of one's own
    assert "The session is saved again" in display.output
    info = path.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (os.getuid(), 0o600)
    assert load_file(path)[0] == saved.chat.conversation
    saved.chat.close()


@posix
def test_session_and_lock_files_are_never_opened_through_a_symbolic_link(
    saved: CommandContext, store: SessionStore, tmp_path: Path
) -> None:
    target = tmp_path / "target"
    target.write_text("precious")
    saved.chat.send("one")
    assert saved.chat.log is not None
    path = saved.chat.log.path
    saved.chat.close()
    path.unlink()
    path.symlink_to(target)
    with pytest.raises(TranscriptError, match="is a symbolic link, not a session file"):
        store.resume(path)
    path.unlink()
    path.with_suffix(".lock").symlink_to(target)
    with pytest.raises(OSError):
        SessionLock(path)
    assert target.read_text() == "precious"


def test_without_posix_owners_nothing_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    tmp_path.chmod(0o777)
    monkeypatch.delattr(os, "getuid", raising=False)
    assert changeable_by_others(tmp_path.stat()) is None
    assert SessionStore(tmp_path, secret=None).folder == tmp_path


@settings(max_examples=500, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list(" \t\n\r\v\f\x1c\x1d\x1e\x1f\x85\u2028\u2029\u00a0ab中")), max_size=90)
    | st.text()
)
def test_a_title_is_the_first_line_that_is_not_blank_cut_to_60_characters(text: str) -> None:
    assume(not any(mark in text for mark in "#>-*+`~"))  # markdown's marks are taken off: tested apart
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    title = title_of(text)
    assert title == shortened(first, 60)
    body = title.removesuffix("…") if len(first) > 60 else title
    assert first.startswith(body) and len(body) <= 60
    if len(first) > 60:  # never cut inside a word of letters and digits (it would be a piece of a key)
        assert not (body and body[-1].isascii() and body[-1].isalnum() and first[len(body)].isalnum())


def test_a_title_leaves_markdown_marks_and_code_fences_out() -> None:
    assert title_of("```python\nprint(1)\n```") == "print(1)"
    assert title_of("\n# 标题 Heading\nbody") == "标题 Heading"
    assert title_of("> - quoted item") == "quoted item"
