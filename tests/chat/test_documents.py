"""Documents: small text files inlined, others uploaded for extraction, refusals, /file listing and clearing."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from kimi_repl.commands import CommandRegistry
from kimi_repl.commands.context import CommandContext
from kimi_repl.config import Settings
from kimi_repl.errors import UserError
from tests.fake import FakeMoonshot
from tests.helpers import CapturedDisplay


def test_a_small_text_file_is_inlined_and_sent_as_a_system_message(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, tmp_path: Path
) -> None:
    (tmp_path / "notes.md").write_text("# 笔记\n\nThe code is 42.\n")
    session.chat.choose(system="Be brief.")
    registry.dispatch(session, f"/file {tmp_path / 'notes.md'}")
    session.chat.send("What is the code?")
    sent = server.chat_requests()[-1]["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sent[1]["role"] == "system" and json.loads(sent[1]["content"])["content"] == "# 笔记\n\nThe code is 42.\n"
    assert sent[2] == {"role": "user", "content": "What is the code?"}
    assert not any(r.path == "/v1/files" for r in server.requests), "plain text needs no upload"


def test_the_same_file_twice_is_refused_and_an_edited_one_is_added(
    registry: CommandRegistry, session: CommandContext, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("The code is 42.\n")
    registry.dispatch(session, f"/file {notes}")
    with pytest.raises(UserError, match=r"notes\.md is attached already, unchanged"):
        registry.dispatch(session, f"/file {notes}")
    notes.write_text("The code is 43.\n")
    registry.dispatch(session, f"/file {notes}")
    contents = [json.loads(d.content)["content"] for d in session.chat.conversation.documents]
    assert contents == ["The code is 42.\n", "The code is 43.\n"]


def test_other_files_are_uploaded_for_extraction_and_the_upload_deleted(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, tmp_path: Path, display: CapturedDisplay
) -> None:
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.4\nRevenue rose 12%.\n\x00\x01")
    registry.dispatch(session, f"/file {tmp_path / 'report.pdf'}")
    assert "Added report.pdf (extracted by Moonshot" in display.output
    upload = next(r for r in server.requests if r.method == "POST" and r.path == "/v1/files")
    assert b'name="purpose"' in upload.body and b"file-extract" in upload.body
    assert server.files == {}, "the upload is deleted once its text is read"
    session.chat.send("What rose?")
    document = json.loads(server.chat_requests()[-1]["messages"][0]["content"])
    assert "Revenue rose 12%." in document["content"] and document["filename"] == "report.pdf"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.txt", None, "does not exist"),
        ("folder", "dir", "is a folder"),
        ("empty.txt", b"", "is empty"),
    ],
)
def test_unusable_files_are_one_line(
    registry: CommandRegistry,
    session: CommandContext,
    tmp_path: Path,
    name: str,
    content: bytes | str | None,
    message: str,
) -> None:
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        registry.dispatch(session, f"/file {path}")
    assert session.chat.conversation.documents == []


def test_a_file_too_big_for_the_window_is_refused(
    registry: CommandRegistry, settings: Settings, display: CapturedDisplay, tmp_path: Path
) -> None:
    session = CommandContext.open(replace(settings, model="moonshot-v1-8k"), display)
    (tmp_path / "long.txt").write_text("word " * 10_000)
    with pytest.raises(UserError, match="too much for moonshot-v1-8k's 8k window"):
        registry.dispatch(session, f"/file {tmp_path / 'long.txt'}")


def test_file_lists_and_clears_documents(
    registry: CommandRegistry, session: CommandContext, display: CapturedDisplay, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("alpha")
    registry.dispatch(session, "/file")
    assert "No documents." in display.output
    registry.dispatch(session, f"/file {tmp_path / 'a.txt'}")
    registry.dispatch(session, "/file")
    assert "a.txt" in display.output
    registry.dispatch(session, "/file clear")
    assert session.chat.conversation.documents == [] and "Removed 1 document." in display.output
