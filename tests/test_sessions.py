"""Autosaved sessions: every change on disk as it happens, replayed exactly, crash damage contained."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from kimi_repl.chat import ChatSession
from kimi_repl.config import Settings, sessions_dir
from kimi_repl.conversation import Conversation
from kimi_repl.sessions import SessionStore, load_file
from kimi_repl.transcript import REDACTED, TranscriptError
from tests.conftest import CapturedDisplay
from tests.fake_server import FakeMoonshot, Script


@pytest.fixture
def store(isolated_user: Path, settings: Settings) -> SessionStore:
    return SessionStore(sessions_dir(), secret=settings.api_key)


@pytest.fixture
def saved(settings: Settings, display: CapturedDisplay, store: SessionStore) -> ChatSession:
    return ChatSession(settings, display, store=store)


def reloaded(session: ChatSession) -> ChatSession:
    assert session.log is not None
    conversation, _ = load_file(session.log.path)
    assert conversation == session.conversation
    return session


def test_nothing_is_written_before_the_first_message(saved: ChatSession, store: SessionStore) -> None:
    saved.set_model("moonshot-v1-8k")
    assert store.paths() == []


def test_the_file_follows_every_change_as_it_happens(saved: ChatSession, server: FakeMoonshot) -> None:
    saved.set_system("Be brief.")
    saved.send("one")
    reloaded(saved)
    saved.set_model("moonshot-v1-8k")
    saved.set_temperature(0.2)
    saved.send("two")
    reloaded(saved)
    server.script(Script(status=500, times=3))
    saved.send("three")  # fails: withdrawn
    reloaded(saved)
    saved.retry("kimi-latest")
    reloaded(saved)
    saved.undo()
    saved.set_system(None)
    conversation = reloaded(saved).conversation
    assert [t.content for t in conversation.turns] == ["one", "Echo 1: one"]
    assert (conversation.model, conversation.temperature, conversation.system) == ("moonshot-v1-8k", 0.2, None)
    assert conversation.turns[0].system == "Be brief."


def test_turns_record_model_temperature_system_usage_and_times(saved: ChatSession) -> None:
    saved.set_temperature(0.4)
    saved.send("hi")
    assert saved.log is not None
    conversation, _ = load_file(saved.log.path)
    user, reply = conversation.turns
    assert (user.model, user.temperature) == ("kimi-k2.6", 0.4)
    assert reply.usage is not None and reply.usage["total_tokens"] > 0
    assert reply.finished is not None and reply.finished >= reply.created >= user.created


def test_session_files_are_private_and_never_hold_the_key(saved: ChatSession, settings: Settings) -> None:
    saved.send(f"is {settings.api_key} my key?")
    assert saved.log is not None
    path = saved.log.path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    text = path.read_text()
    assert settings.api_key not in text and REDACTED in text


def test_a_torn_last_line_is_skipped_and_everything_before_it_kept(saved: ChatSession) -> None:
    saved.send("one")
    saved.send("two")
    assert saved.log is not None
    with saved.log.path.open("a") as handle:
        handle.write('{"event": "turn", "role": "user", "content": "half wri')
    conversation, pending = load_file(saved.log.path)
    assert [t.content for t in conversation.turns] == ["one", "Echo 1: one", "two", "Echo 2: two"]
    assert pending == ""


def test_damage_before_the_last_line_loads_what_came_before_it(saved: ChatSession) -> None:
    saved.send("one")
    saved.send("two")
    assert saved.log is not None
    lines = saved.log.path.read_text().splitlines()
    saved.log.path.write_text("\n".join([*lines[:4], "{garbage", *lines[4:]]) + "\n")
    conversation, pending = load_file(saved.log.path)
    assert [t.content for t in conversation.turns] == ["one", "Echo 1: one"] and pending == ""


def test_a_message_without_its_reply_comes_back_as_pending(saved: ChatSession, server: FakeMoonshot) -> None:
    saved.send("one")
    assert saved.log is not None
    user = saved.conversation.add_user("the process died here")
    saved.log.turn(user)  # what is on disk when the process is killed mid-reply
    conversation, pending = load_file(saved.log.path)
    assert pending == "the process died here" and len(conversation.turns) == 2


def test_autosave_failure_is_reported_once_and_the_chat_goes_on(
    saved: ChatSession, store: SessionStore, display: CapturedDisplay
) -> None:
    store.folder.rmdir()
    assert saved.send("one") is not None
    assert saved.send("two") is not None
    assert display.output.count("The chat goes on; it is saved as soon as writing works again") == 1
    store.folder.mkdir()
    saved.send("three")
    assert "The session is saved again" in display.output
    assert saved.log is not None
    assert [t.content for t in load_file(saved.log.path)[0].turns][::2] == ["one", "two", "three"]


def test_sessions_are_found_by_number_id_or_prefix(
    settings: Settings, display: CapturedDisplay, store: SessionStore
) -> None:
    ids = ["20261124-090000-aaaa", "20261125-100000-bbbb"]
    for cid, text in zip(ids, ("first", "second"), strict=True):
        session = ChatSession(settings, display, store=store)
        session.adopt(Conversation(model=session.model, id=cid))
        session.send(text)
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
    assert [info.title for info in store.recent()] == ["second", "first"]


def test_resuming_appends_to_the_same_file(settings: Settings, display: CapturedDisplay, store: SessionStore) -> None:
    first = ChatSession(settings, display, store=store)
    first.send("one")
    assert first.log is not None
    path = first.log.path
    first.close()
    second = ChatSession(settings, display, store=store)
    second.resume(path)
    second.send("two")
    assert store.paths() == [path]
    assert [t.content for t in load_file(path)[0].turns][-1] == "Echo 2: two"


def test_loading_a_transcript_starts_a_new_session_with_its_turns(
    saved: ChatSession, store: SessionStore, tmp_path: Path
) -> None:
    saved.send("one")
    original = saved.conversation.id
    conversation, _ = load_file(saved.log.path if saved.log else tmp_path)
    saved.adopt(conversation)
    assert saved.conversation.id != original
    assert saved.log is not None and saved.log.started
    assert load_file(saved.log.path)[0].turns == conversation.turns
    assert len(store.paths()) == 2


@pytest.mark.parametrize("bad_id", ["../../escaped", "/tmp/absolute", "", "a b"])
def test_an_id_from_a_file_never_leads_outside_the_sessions_folder(
    saved: ChatSession, store: SessionStore, tmp_path: Path, bad_id: str
) -> None:
    saved.adopt(Conversation(model="kimi-latest", id=bad_id))
    saved.send("hello")
    assert saved.log is not None and saved.log.path.parent == store.folder
    assert saved.conversation.id != bad_id


def test_a_new_session_never_writes_into_another_sessions_file(saved: ChatSession, store: SessionStore) -> None:
    saved.send("first")
    taken = saved.conversation.id
    saved.adopt(Conversation(model="kimi-latest", id=taken))
    saved.send("second")
    assert saved.conversation.id != taken
    assert [t.content for t in load_file(store.folder / f"{taken}.jsonl")[0].turns] == ["first", "Echo 1: first"]
