"""Pastes at the prompt: bracketed pastes parsed as prompt_toolkit parses them, big ones asked about."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from prompt_toolkit.input import PipeInput

from kimi_repl.commands.context import CommandContext
from kimi_repl.history import PrivateHistory
from tests.fake import FakeMoonshot, Script
from tests.helpers import CTRL_D, ENTER, UP, bracketed, run_repl, user_messages


def test_a_big_paste_is_asked_about_and_kept_out_of_the_line(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot, tmp_path: Path
) -> None:
    big = "\n".join(f"log line {n} " + "x" * 40 for n in range(4000))  # about 200 KB
    history = PrivateHistory(tmp_path / "history", session.settings.api_key)
    typed = "explain: " + bracketed(big) + "q" + "y" + " thanks" + ENTER  # a key other than y/n waits
    typed += "drop this: " + bracketed(big) + "n" + ENTER + CTRL_D
    run_repl(session, keys, typed, history=history)
    first, second = user_messages(server)
    assert first == "explain: " + big + " thanks"
    assert second == "drop this:"
    stored = (tmp_path / "history").read_text()
    assert "+explain: ⟦paste 1: 214 KB, 4,000 lines⟧ thanks" in stored and len(stored) < 1000


def test_a_paste_that_is_not_big_goes_straight_in(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot
) -> None:
    run_repl(session, keys, bracketed("a\r\nb") + ENTER + CTRL_D)
    assert user_messages(server) == ["a\nb"]


def test_pasted_text_never_runs_as_a_command_unseen(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot, tmp_path: Path
) -> None:
    """A paste that would start the line with ! or / and is not one short line in view goes behind a marker, and a
    line that starts with a marker is a message: only what is typed runs."""
    witness = tmp_path / "ran"
    script = f"!touch {witness}\n" + "a log line\n" * 200
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    slash = f"/save! {victim}" + " " * 300
    typed = (
        bracketed(script) + ENTER + bracketed(slash) + ENTER + bracketed("!echo seen") + ENTER + "and?" + ENTER + CTRL_D
    )
    run_repl(session, keys, typed)
    assert not witness.exists() and victim.read_text() == "precious"
    first, second, *rest = user_messages(server)
    assert first.startswith(f"!touch {witness}\na log line")
    assert second.startswith("/save!")
    assert rest and rest[0].startswith("Output of the shell command `echo seen`"), "one short line in view runs"


def test_a_message_given_back_is_a_message_even_if_it_looks_like_a_command(
    session: CommandContext, keys: PipeInput, server: FakeMoonshot, tmp_path: Path
) -> None:
    witness = tmp_path / "ran"
    server.script(Script(status=401))
    run_repl(session, keys, f"//touch {witness}" + ENTER + UP + ENTER + CTRL_D)
    assert not witness.exists()
    assert user_messages(server)[-1] == f"/touch {witness}"


@given(
    st.lists(st.sampled_from(["ab", "\x1b[200~", "\x1b[201~", "x\ny", "\x1b", "[20", "1~", "中"]), max_size=12),
    st.lists(st.integers(1, 9), max_size=12),
)
def test_pastes_are_parsed_as_prompt_toolkit_parses_them_however_the_reads_are_cut(
    parts: list[str], cuts: list[int]
) -> None:
    from prompt_toolkit.input.vt100_parser import Vt100Parser

    from kimi_repl.pastes import LinearPasteParser

    data = "".join(parts)
    pieces, at = [], 0
    for size in cuts:
        pieces.append(data[at : at + size])
        at += size
    pieces.append(data[at:])
    theirs: list[object] = []
    ours: list[object] = []
    reference, linear = Vt100Parser(theirs.append), LinearPasteParser(ours.append)
    reference.feed(data)
    reference.flush()
    for piece in pieces:
        linear.feed(piece)
    linear.flush()
    assert [(k.key, k.data) for k in ours] == [(k.key, k.data) for k in theirs]  # type: ignore[attr-defined]
