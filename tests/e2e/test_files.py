"""End to end: a document extracted once for two separate runs of kimi-repl, and /files, in a real terminal."""

from __future__ import annotations

from pathlib import Path

from tests.fake import FakeMoonshot
from tests.fake.files import stored_file
from tests.helpers import Launch

PDF = b"%PDF-1.7\nThe launch is on Thursday.\n\x00\x01\x02"


def test_the_same_pdf_in_two_runs_is_uploaded_once(launch: Launch, server: FakeMoonshot, tmp_path: Path) -> None:
    (tmp_path / "work" / "plan.pdf").write_bytes(PDF)
    for run, said in enumerate(("extracted by Moonshot", "Moonshot's text from the cache"), 1):
        term = launch()
        term.wait_for_prompt(1)
        term.line("/file plan.pdf")
        term.wait_for(said)
        term.wait_for_prompt(2)
        term.line("When is the launch?")
        term.wait_for("Echo 1: When is the launch?")
        assert "The launch is on Thursday." in server.chat_requests()[-1]["messages"][0]["content"]
        term.line("/exit")
        assert term.exit_status() == 0
        assert server.uploads == ["plan.pdf"], f"run {run}"
    assert server.files == {}


def test_files_lists_the_servers_files_and_deletes_them_after_asking(launch: Launch, server: FakeMoonshot) -> None:
    for name in ("notes.docx", "slides.pptx"):
        record = stored_file(name, name.encode() * 40)
        server.files[record["id"]] = record
    term = launch()
    term.wait_for_prompt(1)
    term.line("/files")
    term.wait_for("Files stored on the server (2;")
    term.wait_for("slides.pptx")
    term.wait_for_prompt(2)
    term.line("/files delete all")
    term.wait_for("Delete all 2 files stored on the server? [y/N]")
    term.line("y")
    term.wait_for("Deleted 2 files from the server.")
    assert server.files == {}
    term.line("/exit")
    assert term.exit_status() == 0


def test_ctrl_c_while_moonshot_extracts_stops_and_deletes_the_upload(
    launch: Launch, server: FakeMoonshot, tmp_path: Path
) -> None:
    (tmp_path / "work" / "plan.pdf").write_bytes(PDF)
    server.extract_delay = 30
    term = launch()
    term.wait_for_prompt(1)
    term.line("/file plan.pdf")
    term.wait_for("Moonshot is extracting the text of plan.pdf… (Ctrl-C stops)")
    term.ctrl("c")
    term.wait_for("Stopped: plan.pdf was not added; nothing was left on the server.")
    assert server.uploads == ["plan.pdf"] and server.files == {}
    term.wait_for_prompt(2)
    term.line("/file")
    term.wait_for("No documents.")
    term.line("/exit")
    assert term.exit_status() == 0
