"""The sessions index: a cache that makes listings quick and is never believed over the files themselves."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kimi_repl.conversation import Conversation, Turn
from kimi_repl.identity import Origin
from kimi_repl.safefiles import sealed
from kimi_repl.sessions import SessionStore, load_file
from kimi_repl.sessions.index import MAGIC, NAME


def _make(store: SessionStore, number: int, *, words: str = "") -> Conversation:
    conversation = Conversation(model="kimi-k2.6", id=f"s{number:04d}")
    log = store.new_log(conversation)
    conversation.turns += [Turn("user", f"question {number} {words}".strip()), Turn("assistant", "answer")]
    log.turn(*conversation.turns)
    log.close()
    os.utime(log.path, ns=(10**18 + number, 10**18 + number))  # a distinct time each: a fixed order
    return conversation


def _truth(folder: Path) -> list[tuple[object, ...]]:
    """The listing read from the session files alone."""
    (folder / NAME).unlink(missing_ok=True)
    return [tuple(info) for info in SessionStore(folder, secret=None).catalog().sessions]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "sessions"
    path.mkdir(mode=0o700)
    store = SessionStore(path, secret=None)
    for number in range(6):
        _make(store, number, words="你好" if number % 2 else "")
    return path


def test_a_listing_writes_the_index_and_the_next_one_reads_it(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    truth = _truth(folder)
    first = SessionStore(folder, secret=None).catalog()
    assert (folder / NAME).exists() and (folder / NAME).stat().st_mode & 0o077 == 0

    def unread(*_: object, **__: object) -> None:
        raise AssertionError("a session file was read again")

    monkeypatch.setattr(SessionStore, "_read", unread)
    again = SessionStore(folder, secret=None).catalog()
    assert [tuple(i) for i in first.sessions] == [tuple(i) for i in again.sessions] == truth
    assert [info.title for info in again.sessions][:2] == ["question 5 你好", "question 4"]


def test_a_session_changed_since_is_read_again(folder: Path) -> None:
    store = SessionStore(folder, secret=None)
    store.catalog()
    conversation, _ = load_file(folder / "s0002.jsonl")
    resumed = store.resume(folder / "s0002.jsonl")
    assert resumed.log is not None
    resumed.conversation.name("A better title", "user")
    resumed.log.title()
    resumed.log.close()
    listing = {info.id: info for info in store.catalog().sessions}
    assert listing["s0002"].title == "A better title"
    assert listing["s0002"].turns == len(conversation.turns)
    assert [tuple(i) for i in store.catalog().sessions] == _truth(folder)


def test_a_deleted_session_leaves_the_index(folder: Path) -> None:
    store = SessionStore(folder, secret=None)
    store.catalog()
    store.delete(folder / "s0003.jsonl")
    assert "s0003" not in {info.id for info in store.catalog().sessions}
    assert "s0003.jsonl" not in (folder / NAME).read_text(encoding="utf-8", errors="replace")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_an_index_cut_or_changed_at_any_byte_is_never_believed(folder: Path, data: st.DataObject) -> None:
    truth = _truth(folder)
    SessionStore(folder, secret=None).catalog()
    raw = (folder / NAME).read_bytes()
    at = data.draw(st.integers(0, len(raw) - 1))
    if data.draw(st.booleans()):
        damaged = raw[:at]
    else:
        damaged = raw[:at] + bytes([raw[at] ^ data.draw(st.integers(1, 255))]) + raw[at + 1 :]
    (folder / NAME).write_bytes(damaged)
    assert [tuple(i) for i in SessionStore(folder, secret=None).catalog().sessions] == truth


def _forged(folder: Path, entries: object) -> None:
    (folder / NAME).write_bytes(sealed(MAGIC, json.dumps(entries).encode()))


def test_entries_that_do_not_match_their_files_or_the_schema_are_passed_over(folder: Path) -> None:
    truth = _truth(folder)
    size = (folder / "s0001.jsonl").stat().st_size
    forged = {
        "s0000.jsonl": [1, 2, ["s0000", "stale", 1, "m", "", None]],  # another size and time: stale
        "s0001.jsonl": [size, 5, ["s0001", "x" * 10_000, 1, "m", "", None]],
        "../outside.jsonl": [1, 1, None],
        "s0002.jsonl": [1, 1, ["s0002", "t", -3, "m", "", ["../x", 1, "fork"]]],
        "s0004.jsonl": "not an entry",
    }
    _forged(folder, forged)
    assert [tuple(i) for i in SessionStore(folder, secret=None).catalog().sessions] == truth
    _forged(folder, ["not", "a", "mapping"])
    assert [tuple(i) for i in SessionStore(folder, secret=None).catalog().sessions] == truth


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX modes")
def test_an_index_others_can_change_is_not_used(folder: Path) -> None:
    truth = _truth(folder)
    store = SessionStore(folder, secret=None)
    store.catalog()
    entries = json.loads((folder / NAME).read_bytes().partition(b"\n")[2])
    for entry in entries.values():
        entry[2][1] = "planted"
    _forged(folder, entries)
    os.chmod(folder / NAME, 0o666)
    assert [tuple(i) for i in store.catalog().sessions] == truth


def test_a_branch_and_a_title_are_listed(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    folder.mkdir(mode=0o700)
    store = SessionStore(folder, secret=None)
    conversation = Conversation(model="kimi-k2.6", id="child")
    conversation.origin = Origin("parent-1", 3, "rewind")
    conversation.name("标题 title", "model")
    log = store.new_log(conversation)
    conversation.turns += [Turn("user", "q"), Turn("assistant", "a")]
    log.turn(*conversation.turns)
    log.close()
    for _ in range(2):  # read from the file, then from the index
        (info,) = store.catalog().sessions
        assert (info.title, info.origin) == ("标题 title", Origin("parent-1", 3, "rewind"))
