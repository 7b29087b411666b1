"""Nothing a reply, a file or a server message holds can take control of the terminal, the clipboard or a file
that a person reads: one sanitiser, checked here on its own and where it is used."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pyte
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kimi_repl.conversation import Conversation, Turn
from kimi_repl.sanitize import (
    escape_for_file,
    for_clipboard,
    for_terminal,
    json_dumps,
    marked,
    one_line,
    unescape_from_file,
)
from kimi_repl.transcript import from_json, from_markdown, to_json, to_markdown
from tests.helpers import CapturedDisplay
from tests.old_markdown import to_markdown as old_markdown

HOSTILE = "a\x1b]0;pwned\x07b\x1b[2Jc\x9b31md\re\x08f\x1b]52;c;ZXZpbA==\x07g\tt\nn\x1b[201~x"


UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
    "\U000e0000-\U000e007f]"
)


# Text with every kind of trouble mixed into ordinary prose, code and CJK.
tricky = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("ab 中文\n\t`*#|-⟨⟩U+0041")),
        st.sampled_from(["\x1b", "\x07", "\x9b", "\r", "\x00", "\x7f", "\u202e", "\u2066", "\u200b", "\u200d"]),
        st.sampled_from(["\u200c", "\ufeff", "\U000e0041", "\u2028", "👨", "\ud800"]),
    ),
    max_size=80,
)


def test_control_sequences_are_removed_from_prose() -> None:
    clean = for_terminal(HOSTILE)
    assert not UNSAFE.search(clean) and "\r" not in clean
    assert clean.startswith("a]0;pwnedb[2Jc31mdef") and "\tt\nn" in clean


@given(tricky)
def test_nothing_unsafe_ever_reaches_the_terminal_or_the_clipboard(text: str) -> None:
    for shown in (for_terminal(text), marked(text), for_clipboard(text), one_line(text)):
        assert not UNSAFE.search(shown)


def test_code_and_identifiers_show_invisible_characters_as_markers() -> None:
    assert marked("is_admin\u200b = True") == "is_admin⟨U+200B⟩ = True"
    assert marked("if access_level != \u202e\u2066user\u2069\u2066") == (
        "if access_level != ⟨U+202E⟩⟨U+2066⟩user⟨U+2069⟩⟨U+2066⟩"
    )
    assert marked("a\x1b[2Jb") == "a⟨U+001B⟩[2Jb"


def test_a_joiner_stays_inside_an_emoji_or_a_script_and_goes_next_to_ascii() -> None:
    family = "👨\u200d👩\u200d👧"
    assert for_terminal(family) == family and marked(family) == family
    assert for_terminal("admin\u200d") == "admin" and marked("ad\u200dmin") == "ad⟨U+200D⟩min"


@given(tricky)
def test_files_escape_reversibly(text: str) -> None:
    escaped = escape_for_file(text)
    assert not UNSAFE.search(escaped.replace("\r", ""))
    assert unescape_from_file(escaped) == text


@given(tricky)
def test_json_files_hold_the_same_data_but_no_raw_control_characters(text: str) -> None:
    import json

    written = json_dumps({"content": text})
    assert not UNSAFE.search(written) and "\r" not in written
    assert json.loads(written) == {"content": text}


def test_a_saved_transcript_runs_nothing_when_printed_and_loads_back_exactly(tmp_path: Path) -> None:
    conversation = Conversation(
        model="kimi-k2.6",
        system="be \u202eevil\u202c",
        turns=[
            Turn(role="user", content="show me ⟨U+0041⟩ and \u200b"),
            Turn(role="assistant", content=HOSTILE, reasoning_content="think \x1b[31mred"),
        ],
    )
    for text, load in ((to_markdown(conversation), from_markdown), (to_json(conversation), from_json)):
        assert not UNSAFE.search(text.replace("\r", "")) and "\x1b" not in text
        assert load(text, "t") == conversation


def test_a_version_1_markdown_transcript_still_loads_verbatim() -> None:
    conversation = Conversation(model="kimi-k2.6", turns=[Turn(role="user", content="⟨U+0041⟩ literally")])
    text = old_markdown(conversation, version=1).replace("⟨⟨", "⟨")
    assert from_markdown(text, "t").turns[0].content == "⟨U+0041⟩ literally"


# -- where it is used ------------------------------------------------------------------------------


def screen(output: str, width: int = 100) -> pyte.Screen:
    terminal = pyte.Screen(width, 40)
    pyte.Stream(terminal).feed(output.replace("\n", "\r\n"))
    return terminal


def test_a_hostile_reply_cannot_clear_the_screen_retitle_it_or_reach_the_clipboard() -> None:
    display = CapturedDisplay(terminal=True)
    display.console.print("earlier output")
    view = display.reply()
    view.content("hi \x1b[2J\x1b[H\x1b]0;pwned\x07 there \x1b]52;c;ZXZpbA==\x07\n\n```sh\necho \x1b[201~ok\n```\n")
    view.close()
    terminal = screen(display.output)
    assert terminal.display[0].startswith("earlier output") and terminal.title != "pwned"
    assert "\x1b]52" not in display.output and "\x1b]0" not in display.output
    assert "⟨U+001B⟩[201~ok" in "\n".join(terminal.display)  # in code, made visible


def test_a_link_whose_text_is_not_its_target_shows_the_target() -> None:
    display = CapturedDisplay(terminal=True, width=200)
    view = display.reply()
    view.content(
        "Log in at [https://bank.example/login](https://evil.example/x), or see [the docs](https://docs.example/) "
        "and [example.com](https://example.com/).\n"
    )
    view.close()
    text = "\n".join(screen(display.output, width=200).display)
    assert "https://bank.example/login (https://evil.example/x)" in text
    assert "the docs (https://docs.example/)" in text
    assert "example.com." in text and "example.com (" not in text  # same place: nothing added


def test_an_image_whose_text_is_not_its_source_shows_the_source() -> None:
    display = CapturedDisplay(terminal=True, width=200)
    view = display.reply()
    view.content("See ![https://bank.example/login](https://evil.example/x.png) and ![](https://example.com/a.png)\n")
    view.close()
    text = "\n".join(screen(display.output, width=200).display)
    assert "See 🌆 https://bank.example/login (https://evil.example/x.png) and" in text
    assert "and 🌆 a.png (https://example.com/a.png)" in text
    assert "\x1b]8;" not in display.output  # no hyperlink hides where it leads


def test_html_shows_as_written_with_escape_sequences_marked() -> None:
    display = CapturedDisplay(terminal=True)
    view = display.reply()
    view.content("<div>\x1b[2J<b>block</b></div>\n\n")
    view.content("Some <span title='\x1b]0;pwned\x07'>inline</span> <!-- hidden -->\n")
    view.close()
    assert "\x1b[2J" not in display.output and "\x1b]0" not in display.output
    text = "\n".join(screen(display.output).display)
    assert "<div>⟨U+001B⟩[2J<b>block</b></div>" in text
    assert "Some <span title='⟨U+001B⟩]0;pwned⟨U+0007⟩'>inline</span> <!-- hidden -->" in text


def test_bidi_and_zero_width_characters_do_not_reach_the_screen_in_prose() -> None:
    display = CapturedDisplay(terminal=True)
    view = display.reply()
    view.content("pay \u202eoot\u202c to ad\u200bmin; `x\u200by`\n")
    view.close()
    assert "\u202e" not in display.output and "\u200b" not in display.output
    assert "pay oot to admin;" in display.output and "x⟨U+200B⟩y" in display.output


def test_characters_the_markdown_parser_makes_are_sanitised_too() -> None:
    # The text holds nothing unsafe, but entities and an autolink's escapes decode to it.
    display = CapturedDisplay(terminal=True)
    view = display.reply()
    view.content("a&#27;[2Jb &#x1b;]0;pwned&#7; pay &rlm;&#8238;oot <http://x.example/%1B[31m> `&#27;`\n\n")
    view.content("```\nplain code: a && b < c % d\n```\n")
    view.close()
    output = display.output
    assert "\x1b[2J" not in output and "\x1b]0" not in output and "\x1b[31m" not in output
    assert "\u202e" not in output and "\u200f" not in output
    text = "\n".join(screen(output).display)
    assert "[2Jb" in text and "pay oot" in text and "plain code: a && b < c % d" in text


@given(tricky)
def test_rendered_markdown_never_holds_an_unsafe_character(text: str) -> None:
    from rich.console import Console

    from kimi_repl.markdown import markdown_lines

    console = Console(width=60, color_system=None, force_terminal=False)
    first, last = (ord(text[0]), ord(text[-1]) % 256) if text else (27, 27)
    for source in (text, f"&#{first};", f"<http://x/%{last:02X}>"):
        shown = "".join(seg.text for line in markdown_lines(console, source, console.options) for seg in line)
        assert not UNSAFE.search(shown), (source, shown)


def test_copy_puts_clean_text_in_the_clipboard() -> None:
    display = CapturedDisplay(terminal=True)
    assert display.copy_to_clipboard("run\x1b[201~\nrm -rf ~ \u202eevil")
    payload = re.search(r"\x1b\]52;c;([A-Za-z0-9+/=]*)\x07", display.output)
    assert payload is not None
    copied = base64.b64decode(payload.group(1)).decode()
    assert copied == "run[201~\nrm -rf ~ evil"


def test_notices_and_tables_show_identifiers_with_markers() -> None:
    display = CapturedDisplay()
    display.info("Saved to evil\u202efdp.exe\x1b[2J")
    display.rows([("1", "name\u200bwith\x07bell")])
    assert "evil⟨U+202E⟩fdp.exe⟨U+001B⟩[2J" in display.output
    assert "name⟨U+200B⟩with⟨U+0007⟩bell" in display.output


def test_the_plain_view_in_a_pipe_is_clean_and_keeps_emoji_whole_across_chunks() -> None:
    display = CapturedDisplay()
    view = display.reply()
    for piece in ("👨\u200d", "👩 and \x1b[2J", "done\r", "\n"):
        view.content(piece)
    view.close()
    assert display.output == "👨\u200d👩 and [2Jdone\n"


def test_a_long_code_block_printed_as_it_streams_is_sanitised_too(monkeypatch: pytest.MonkeyPatch) -> None:
    from kimi_repl import render

    now = [0.0]
    monkeypatch.setattr(render, "_now", lambda: now[0])
    display = CapturedDisplay(terminal=True, height=10)
    view = display.reply()
    lines = [f"line_{i} = 'a\x1b[2J\x1b]0;pwned\x07\u202eb'" for i in range(60)]
    for line in ["```python", *lines]:
        now[0] += 0.1  # a frame a line
        view.content(line + "\n")
    view.close()
    assert view.stats.prints > 1  # printed in pieces
    assert "\x1b[2J" not in display.output and "\x1b]0" not in display.output and "\u202e" not in display.output
    assert "line_3 = 'a⟨U+001B⟩[2J" in re.sub("\x1b\\[[0-9;]*m", "", display.output)  # in code, made visible
