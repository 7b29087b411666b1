"""/files through the REPL loop: the listing, and /files delete all with its question answered at the prompt."""

from __future__ import annotations

from prompt_toolkit.input import PipeInput

from kimi_repl.commands.context import CommandContext
from tests.fake import FakeMoonshot
from tests.fake.files import stored_file
from tests.helpers import CTRL_D, ENTER, CapturedDisplay, run_repl


def store(server: FakeMoonshot, *names: str) -> None:
    for name in names:
        record = stored_file(name, b"%PDF-1.7\n" + name.encode() * 100, created_at=1_796_000_000)
        server.files[record["id"]] = record


def test_files_lists_what_the_server_stores(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    store(server, "report.pdf", "季度报告.docx")
    assert run_repl(session, keys, "/files" + ENTER + CTRL_D) == 0
    assert "Files stored on the server (2;" in display.output
    for record in server.files.values():
        assert record["id"] in display.output and record["filename"] in display.output
    assert server.chat_requests() == []


def test_files_delete_all_asks_and_no_keeps_them(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    store(server, "a.pdf", "b.pdf")
    run_repl(session, keys, "/files delete all" + ENTER + "n" + ENTER + CTRL_D)
    assert "Nothing deleted." in display.output and len(server.files) == 2


def test_files_delete_all_asks_and_yes_deletes_every_one(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    store(server, "a.pdf", "b.pdf", "c.pdf")
    run_repl(session, keys, "/files delete all" + ENTER + "y" + ENTER + "/files" + ENTER + CTRL_D)
    assert "Deleted 3 files from the server." in display.output and server.files == {}
    assert "No files are stored on the server" in display.output


def test_files_delete_one_by_id(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    store(server, "a.pdf", "b.pdf")
    first, second = list(server.files)
    run_repl(session, keys, f"/files delete {first}" + ENTER + f"/files delete {first}" + ENTER + CTRL_D)
    assert f"Deleted {first} from the server." in display.output
    assert f"The server has no file {first}" in display.output and list(server.files) == [second]


def test_a_server_without_a_files_api_is_one_line(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    server.files_api = False
    run_repl(session, keys, "/files" + ENTER + "/files delete all" + ENTER + "/files delete cn1" + ENTER + CTRL_D)
    assert display.output.count("has no Files API (404): it stores no files.") == 3
    assert "Traceback" not in display.output and "Internal error" not in display.output
