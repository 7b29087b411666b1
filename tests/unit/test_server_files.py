"""The server's list of files, as untrusted input: parsed bounded, shown sanitised, formatted for /files."""

from __future__ import annotations

import json

import pytest

from kimi_repl.client import ChatError
from kimi_repl.client.files import MAX_FILES, MAX_LIST_BYTES, MAX_NAME_CHARS, ServerFile, server_files
from kimi_repl.commands.files import SHOWN, file_row, listing_lines
from tests.helpers import CapturedDisplay


def entry(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "cn0123456789abcdef",
        "object": "file",
        "bytes": 2_345_678,
        "created_at": 1_796_000_000,
        "filename": "report.pdf",
        "purpose": "file-extract",
        "status": "ok",
        "status_details": "",
    }
    return {**base, **fields}


def body(*entries: object) -> bytes:
    return json.dumps({"object": "list", "data": list(entries)}).encode()


def test_moonshots_list_is_read_field_by_field() -> None:
    (found,), left_out = server_files(body(entry()))
    assert found == ServerFile("cn0123456789abcdef", "report.pdf", 2_345_678, 1_796_000_000, "file-extract", "ok")
    assert left_out == 0


def test_ids_that_could_not_be_file_ids_are_left_out_and_counted() -> None:
    bad = [entry(id="../chat/completions"), entry(id=""), entry(id=7), "nonsense", entry(id="a b")]
    files, left_out = server_files(body(entry(), *bad))
    assert [f.id for f in files] == ["cn0123456789abcdef"] and left_out == 5


def test_a_huge_list_is_bounded() -> None:
    files, left_out = server_files(body(*(entry(id=f"f{n}") for n in range(MAX_FILES + 500))))
    assert len(files) == MAX_FILES and left_out == 500
    with pytest.raises(ChatError, match="bigger than 4 MB"):
        server_files(None)
    assert MAX_LIST_BYTES == 4 * 1024 * 1024


def test_long_names_and_odd_values_are_cut_or_dropped() -> None:
    (found,), _ = server_files(body(entry(filename="x" * 10_000, bytes=-1, created_at="yesterday", status=["?"])))
    assert len(found.name) == MAX_NAME_CHARS and found.size is None and found.created_at is None and found.status == ""


@pytest.mark.parametrize("answer", [b"<html>", b"[]", b'{"data": 3}'])
def test_an_answer_that_is_not_a_list_of_files_is_one_line(answer: bytes) -> None:
    with pytest.raises(ChatError, match="GET /files"):
        server_files(answer)


def test_a_row_shows_id_name_size_date_and_a_status_only_when_not_ok() -> None:
    row = file_row(ServerFile("cn1", "report.pdf", 2_345_678, 1_796_000_000, "file-extract", "ok"))
    assert row[:3] == ("cn1", "report.pdf", "2.2 MB") and row[3].startswith("2026-") and row[4] == ""
    failed = file_row(ServerFile("cn2", "", None, None, "batch", "error: unsupported"))
    assert failed == ("cn2", "(no name)", "?", "?", "batch error: unsupported")


def test_a_long_listing_shows_the_first_rows_and_counts_the_rest() -> None:
    files = [ServerFile(f"cn{n}", f"{n}.pdf", 1, 1_796_000_000, "file-extract", "ok") for n in range(SHOWN + 7)]
    title, rows, note = listing_lines(files, 3)
    assert f"({SHOWN + 7};" in title and len(rows) == SHOWN
    assert note is not None and "… and 7 more" in note and "3 more not listed" in note


def test_a_hostile_name_reaches_the_terminal_harmless() -> None:
    display = CapturedDisplay(terminal=True)
    hostile = ServerFile("cn1", "evil\x1b]0;pwned\x07\u202egnp.exe\nsecond line", 1, 1, "file-extract", "ok")
    display.rows([file_row(hostile)])
    shown = display.output
    assert "\x1b]0;" not in shown and "\u202e" not in shown and "⟨U+202E⟩" in shown
    lines = [line for line in shown.splitlines() if line.strip()]
    assert len(lines) == 1 and "second line" in lines[0], "one row, one line"
