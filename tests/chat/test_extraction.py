"""Documents Moonshot extracts: uploaded once (the text is cached by the file's hash), progress as it goes,
Ctrl-C at any step leaves nothing half-attached and nothing on the server, a server without a Files API."""

from __future__ import annotations

import functools
import json
import os
import signal
import threading
from pathlib import Path

import pytest

from kimi_repl.client.files import Progress
from kimi_repl.commands import CommandRegistry
from kimi_repl.commands.attachments import progress_line
from kimi_repl.commands.context import CommandContext
from kimi_repl.config import Settings, extracts_dir
from kimi_repl.errors import UserError
from kimi_repl.extracts import ExtractCache, extraction_source, file_key
from tests.fake import FakeMoonshot
from tests.helpers import CapturedDisplay, InterruptAt, traced

PDF = b"%PDF-1.7\nRevenue rose 12% in the third quarter.\n\x00\x01\x02"


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "report.pdf"
    path.write_bytes(PDF)
    return path


def test_the_same_file_is_uploaded_once_across_sessions(
    registry: CommandRegistry, settings: Settings, server: FakeMoonshot, report: Path, tmp_path: Path
) -> None:
    first, second = CapturedDisplay(), CapturedDisplay()
    registry.dispatch(CommandContext.open(settings, first), f"/file {report}")
    assert "extracted by Moonshot" in first.output and server.uploads == ["report.pdf"]
    copy = tmp_path / "copy of report.pdf"
    copy.write_bytes(PDF)  # the same bytes under another name: the same text
    later = CommandContext.open(settings, second)
    registry.dispatch(later, f"/file {copy}")
    assert server.uploads == ["report.pdf"], "not uploaded again"
    assert "Moonshot's text from the cache (extracted 20" in second.output
    (document,) = later.chat.conversation.documents
    assert "Revenue rose 12%" in json.loads(document.content)["content"] and document.name == "copy of report.pdf"
    later.chat.send("What rose?")
    assert "Revenue rose 12%" in server.chat_requests()[-1]["messages"][0]["content"]


def test_a_damaged_cache_entry_is_extracted_again(
    registry: CommandRegistry, settings: Settings, server: FakeMoonshot, report: Path, display: CapturedDisplay
) -> None:
    registry.dispatch(CommandContext.open(settings, display), f"/file {report}")
    entry = ExtractCache.default().path(file_key(PDF, extraction_source(server.base_url)))
    entry.write_bytes(entry.read_bytes()[:-5])
    session = CommandContext.open(settings, display)
    registry.dispatch(session, f"/file {report}")
    assert server.uploads == ["report.pdf", "report.pdf"]
    assert "Revenue rose 12%" in session.chat.conversation.documents[0].content
    assert ExtractCache.default().get(file_key(PDF, extraction_source(server.base_url))) is not None, "and cached again"


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX owners and modes")
def test_a_cache_folder_others_can_change_is_not_used_and_said_once(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, report: Path, display: CapturedDisplay
) -> None:
    os.chmod(extracts_dir(), 0o777)
    registry.dispatch(session, f"/file {report}")
    assert "The document cache" in display.output and "so it is not used: chmod 700" in display.output
    assert "Added report.pdf (extracted by Moonshot" in display.output
    assert os.listdir(extracts_dir()) == [], "nothing written there"
    registry.dispatch(session, "/file clear")
    display.forget()
    registry.dispatch(session, f"/file {report}")
    assert "document cache" not in display.output and server.uploads == ["report.pdf", "report.pdf"]


def test_a_server_without_a_files_api_is_one_line(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, report: Path
) -> None:
    server.files_api = False
    with pytest.raises(UserError, match=r"has no Files API \(404\).*report\.pdf cannot be extracted there") as error:
        registry.dispatch(session, f"/file {report}")
    assert "\n" not in str(error.value) and session.chat.conversation.documents == []


def test_upload_progress_counts_up_to_the_whole_file_then_extraction(
    session: CommandContext, server: FakeMoonshot
) -> None:
    seen: list[Progress] = []
    data = b"%PDF-1.7\n" + b"x" * 500_000
    session.chat.client.files.extract("big.pdf", data, seen.append)
    uploads = [p.done for p in seen if p.phase == "upload"]
    assert uploads == sorted(uploads) and uploads[-1] == len(data) and len(uploads) > 3
    assert seen[-1].phase == "extract"


def test_the_progress_line_shows_a_percentage_then_the_extraction() -> None:
    lines: list[str] = []
    report = progress_line("report.pdf", lines.append)
    for done in (0, 10, 500, 999, 1000):
        report(Progress("upload", done, 1000))
    report(Progress("extract", 1000, 1000))
    report(Progress("extract", 1000, 1000))
    assert lines == [
        "Uploading report.pdf to Moonshot: 0% of 1000 bytes",
        "Uploading report.pdf to Moonshot: 1% of 1000 bytes",
        "Uploading report.pdf to Moonshot: 50% of 1000 bytes",
        "Uploading report.pdf to Moonshot: 99% of 1000 bytes",
        "Uploading report.pdf to Moonshot: 100% of 1000 bytes",
        "Moonshot is extracting the text of report.pdf…",
    ]


def test_ctrl_c_at_every_step_attaches_all_or_nothing_and_leaves_nothing_on_the_server(
    registry: CommandRegistry, settings: Settings, server: FakeMoonshot, report: Path
) -> None:
    counter = InterruptAt()
    traced(lambda: registry.dispatch(CommandContext.open(settings, CapturedDisplay()), f"/file {report}"), counter)
    steps = len(counter.lines)
    assert steps > 50
    ExtractCache.default().path(file_key(PDF, extraction_source(server.base_url))).unlink()
    for at in range(1, steps + 1, max(1, steps // 60)):
        session = CommandContext.open(settings, CapturedDisplay())
        traced(functools.partial(registry.dispatch, session, f"/file {report}"), InterruptAt(at))
        assert server.files == {}, f"an upload was left on the server (Ctrl-C at step {at})"
        documents = session.chat.conversation.documents
        assert documents == [] or (len(documents) == 1 and "Revenue rose 12%" in documents[0].content)
        cached = ExtractCache.default().get(file_key(PDF, extraction_source(server.base_url)))
        assert cached is None or "Revenue rose 12%" in cached.text
        if cached is not None:
            ExtractCache.default().path(file_key(PDF, extraction_source(server.base_url))).unlink()
        registry.dispatch(session, "/file clear")
        registry.dispatch(session, f"/file {report}")  # nothing wedged: it works at once
        assert len(session.chat.conversation.documents) == 1


def test_ctrl_c_while_moonshot_extracts_deletes_the_upload(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, report: Path, display: CapturedDisplay
) -> None:
    server.extract_delay = 2.0
    threading.Timer(0.25, lambda: signal.raise_signal(signal.SIGINT)).start()
    registry.dispatch(session, f"/file {report}")
    assert "Stopped: report.pdf was not added; nothing was left on the server." in display.output
    assert server.uploads == ["report.pdf"] and server.files == {}
    assert session.chat.conversation.documents == []


@pytest.mark.parametrize("odd", ["", "..", "a/b"])
def test_an_upload_answered_with_an_id_that_is_no_file_id_is_one_line(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, report: Path, odd: str
) -> None:
    server.upload_id = odd
    with pytest.raises(UserError, match="with an id that is not a file id") as error:
        registry.dispatch(session, f"/file {report}")
    assert "\n" not in str(error.value) and "Internal error" not in str(error.value)
    assert session.chat.conversation.documents == []


def test_the_key_in_a_document_goes_neither_to_the_model_nor_to_the_cache(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, tmp_path: Path
) -> None:
    key = session.settings.api_key
    dotenv = tmp_path / "dotenv.txt"
    dotenv.write_text(f"MOONSHOT_API_KEY={key}\n")
    extracted = tmp_path / "keys.pdf"
    extracted.write_bytes(b"%PDF-1.7\nthe key is " + key.encode() + b"\n\x00")
    registry.dispatch(session, f"/file {dotenv}")
    registry.dispatch(session, f"/file {extracted}")
    session.chat.send("what is in them?")
    assert key not in json.dumps(server.chat_requests()[-1])
    assert all(key.encode() not in entry.read_bytes() for entry in extracts_dir().iterdir())


def test_another_servers_extraction_is_never_taken_for_moonshots() -> None:
    """Found by an attacker: a server a .env pointed at could plant the text every later session trusted."""
    assert extraction_source("https://api.moonshot.cn/v1") == extraction_source("https://api.moonshot.ai/v1") == ""
    assert file_key(PDF, extraction_source("https://api.moonshot.cn/v1")) == file_key(PDF)
    elsewhere = extraction_source("http://127.0.0.1:8871/v1")
    assert elsewhere and file_key(PDF, elsewhere) != file_key(PDF)
    assert extraction_source("https://user:secret@llm.example.com/v1") == "https://llm.example.com/v1"


@pytest.mark.parametrize(
    ("name", "data"),
    [("contract.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n"), ("notes.docx", b"plain looking\n")],
)
def test_a_document_format_is_extracted_however_plain_its_bytes(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, tmp_path: Path, name: str, data: bytes
) -> None:
    """Found by a new user: an all-ASCII PDF went to the model as its source."""
    path = tmp_path / name
    path.write_bytes(data)
    registry.dispatch(session, f"/file {path}")
    assert server.uploads == [name]
