"""The page to share (/save NAME.html): read by an HTML5 parser as a browser would, it holds all of the
conversation as visible text and nothing that could run script or load anything, whatever the replies hold."""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kimi_repl import lexing
from kimi_repl.conversation import Conversation, Document, Image, Output, Turn
from kimi_repl.facts import facts
from kimi_repl.page import to_html
from kimi_repl.page_markdown import Highlighter, markdown_html
from kimi_repl.redaction import REDACTED
from kimi_repl.transcript import save, to_markdown
from tests.fake import PAGE_ATTACKS, PAGE_HOSTILE_REPLY
from tests.helpers import png_bytes
from tests.pages import elements, problems, shown, title_of, visible_text
from tests.strategies import conversations, plain

PNG = base64.b64encode(png_bytes()).decode()


def chat(*turns: Turn, **settings: object) -> Conversation:
    conversation = Conversation(model="kimi-k2.6", id="20261125-101112-a3f9", **settings)  # type: ignore[arg-type]
    conversation.turns = list(turns)
    return conversation


def test_a_page_shows_the_whole_conversation() -> None:
    reply = "# 标题\n\n这是**中文**。\n\n| a | b |\n|:-|-:|\n| 1 | 2 |\n\n```python\nprint('你好')\n```\n"
    conversation = chat(
        Turn("user", "第一个问题\n  indented <b>", model="kimi-k2.6", images=[Image("猫.png", "image/png", PNG)]),
        Turn("assistant", reply, model="kimi-k2.6", reasoning_content="想一想…", searches=[{"query": "kimi 新闻"}]),
        Turn("user", "and now", model="kimi-k2.6", outputs=[Output("ls -la", "\ntotal 0\n", 0)]),
        Turn("assistant", "Done.", model="kimi-k2.6", interrupted=True),
    )
    conversation.documents = [Document("报告.pdf", "the document's own text")]
    page = to_html(conversation)
    assert problems(page) == []
    text = visible_text(page)
    for expected in ("第一个问题 indented <b>", "标题", "这是中文。", "print('你好')", "想一想…", "kimi 新闻"):
        assert expected in text
    for expected in ("$ ls -la (exit status 0)", "total 0", "Done.", "interrupted", "报告.pdf (23 bytes)"):
        assert expected in text
    assert "the document's own text" not in page  # a shared page names the documents, it does not publish them
    assert title_of(page) == "第一个问题" and [h.text for h in elements(page, "h1")] == ["第一个问题"]
    (picture,) = elements(page, "img")
    assert picture.attrib == {"src": f"data:image/png;base64,{PNG}", "alt": "猫.png"}
    (thinking,) = [d for d in elements(page, "details") if d.find("summary").text == "Thinking"]
    assert "想一想…" in "".join(thinking.itertext())
    assert [t.text for t in elements(page, "th")] == ["a", "b"] and elements(page, "td")[1].attrib == {"class": "right"}
    assert re.search(r'<meta name="viewport" content="width=device-width, initial-scale=1">', page)
    assert 'class="nb">print</span>' in page  # highlighted by pygments, into classes the style sheet colours
    assert [pre.text for pre in elements(page, "pre") if pre.attrib == {"class": "output"}] == ["\ntotal 0\n"]


def test_the_header_is_the_same_summary_as_the_markdown() -> None:
    conversation = chat(
        Turn("user", "q", model="moonshot-v1-8k", temperature=0.5, system="Be brief."),
        Turn("assistant", "a", model="moonshot-v1-8k", temperature=0.5, system="Be brief."),
        web=True,
    )
    conversation.documents = [Document("a.txt", "x")]
    page, markdown = visible_text(to_html(conversation)), to_markdown(conversation)
    said = facts(conversation)
    labels = ["Date", "Model", "Temperature", "Web search", "Documents", "Session", "System prompt"]
    assert [f.label for f in said] == labels
    for fact in said:
        assert f"{fact.label} {shown(fact.value)}" in page
        assert f"**{fact.label}:**" in markdown
    assert "Thinking" not in page  # moonshot-v1-8k cannot switch it


@pytest.mark.parametrize("attack", PAGE_ATTACKS)
def test_raw_html_in_a_reply_is_text(attack: str) -> None:
    for conversation in (
        chat(Turn("user", attack), Turn("assistant", attack, reasoning_content=attack)),
        chat(Turn("user", "q", images=[Image(attack, "image/png", PNG)], outputs=[Output(attack, attack)])),
        chat(Turn("user", "q"), Turn("assistant", "a", searches=[{"query": attack}], written_by=[attack])),
    ):
        page = to_html(conversation)
        assert problems(page) == []
        assert shown(attack) in visible_text(page) or shown(attack) in elements(page, "img")[0].attrib["alt"]


def test_the_hostile_page_reply_runs_nothing_loads_nothing_and_shows_everything() -> None:
    page = to_html(chat(Turn("user", "%page"), Turn("assistant", PAGE_HOSTILE_REPLY)))
    assert problems(page) == []
    text = visible_text(page)
    for attack in PAGE_ATTACKS:
        assert shown(attack) in text
    for expected in (
        "click me",
        "spoof (http://evil.example/l)",
        "[x](&#106;avascript:alert(1))".replace("&#106;", "j"),  # not a link: shown as the text it is
        "http://evil.example/auto",
        "🖼 pixel (http://evil.example/p.png)",
        "data:text/html,<script>alert(3)</script>",
        '<script src="http://evil.example/c.js"></script>',
        "⟨U+202E⟩elif.exe⟨U+202C⟩",
        "a NUL ⟨U+0000⟩ here",
        "entities <script> ⟨U+202E⟩.",
        "<b>bold?</b>",
    ):
        assert expected in text
    assert "evil.example" not in "".join(str(e.attrib) for e in elements(page, "*"))


def test_only_pictures_of_a_type_kimi_repl_takes_and_in_base64_are_shown() -> None:
    for image in (
        Image("x.svg", "image/svg+xml", base64.b64encode(b"<svg onload=alert(1)/>").decode()),
        Image("x.png", "image/png", 'AAAA" onerror="alert(1)'),
        Image("x.png", "image/png", ""),  # from a Markdown transcript: only its name
        Image("x.png", "text/html;base64,PHNjcmlwdD4=", "AAAA"),
    ):
        page = to_html(chat(Turn("user", "look", images=[image])))
        assert problems(page) == [] and elements(page, "img") == []
        assert "x. " not in visible_text(page) and "(the picture is not in this transcript)" in visible_text(page)


def test_saving_a_page_never_writes_the_key(tmp_path: Path) -> None:
    key = "sk-" + "A1b2" * 12
    conversation = chat(Turn("user", f"my key is {key}"), Turn("assistant", f"`{key}`", reasoning_content=key))
    for name in ("k.html", "k.HTM"):
        assert save(conversation, tmp_path / name, overwrite=False, secret=key) == "HTML"
        page = (tmp_path / name).read_text(encoding="utf-8")
        assert key not in page and REDACTED in page and page.startswith("<!DOCTYPE html>")


def test_code_is_highlighted_within_a_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "<span" not in markdown_html("```python\nx = 1\n```\n", Highlighter(seconds=0))
    monkeypatch.setattr(lexing, "HIGHLIGHT_SECONDS", 0.05)
    slow = '```scala\nval s = "' + "\\" * 80 + "\n```\n"  # exponential for pygments' Scala lexer
    began = time.monotonic()
    try:
        html = markdown_html(slow + "after it\n" + slow, Highlighter())
        assert "scala" in lexing.PLAIN_LEXERS and "after it" in html
    finally:
        lexing.PLAIN_LEXERS.discard("scala")
    assert time.monotonic() - began < 5


def test_a_huge_hostile_reply_makes_a_page_in_linear_time() -> None:
    table = "| a |\n|---|\n" + "| b |\n" * 20_000
    reply = "\n\n".join(["<" * 100_000, "[a](b) " * 20_000, table, "> " * 10_000 + "deep", "`" * 50_000])
    began = time.monotonic()
    page = to_html(chat(Turn("user", "q"), Turn("assistant", reply)))
    assert time.monotonic() - began < 20 and problems(page) == []
    assert "Shown as written (nested too deeply to lay out)" in visible_text(page)


fragments = st.sampled_from([*PAGE_ATTACKS, "[a](", "](javascript:x)", "![", "<http://e.x/>", "\n\n", "```", "|"])
hostile = st.lists(st.one_of(plain, fragments), max_size=10).map("".join)


@settings(max_examples=80, deadline=None)
@given(conversations(), st.lists(hostile, min_size=1, max_size=4))
def test_no_conversation_makes_a_page_that_runs_or_loads_anything(
    conversation: Conversation, replies: list[str]
) -> None:
    for turn, reply in zip(conversation.turns, replies, strict=False):
        turn.content += reply
        turn.reasoning_content += reply
    assert problems(to_html(conversation)) == []


words = st.text(alphabet=st.characters(categories=["Ll", "Lu", "Lo"]), min_size=1, max_size=8)
punctuation = st.sampled_from(
    [" ", "\n", "\n\n", "*", "_", "#", "# ", "> ", "- ", "+ ", "=", "|", "~", "`", "```", "<", ">", "/", "!", "(", ")"]
)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(words, punctuation), min_size=1, max_size=30))
def test_every_word_of_a_reply_is_on_the_page(pieces: list[tuple[str, str]]) -> None:
    reply = "".join(word + mark for word, mark in pieces)
    text = visible_text(to_html(chat(Turn("user", "q"), Turn("assistant", reply))))
    for word in re.findall(r"[^\W\d_]+", reply):
        assert word in text


def test_a_title_given_is_the_pages_title() -> None:
    conversation = chat(Turn("user", "first words"), Turn("assistant", "ok"))
    conversation.name("</title><script>alert(1)</script>", "user")
    page = to_html(conversation)
    assert problems(page) == [] and title_of(page) == "</title><script>alert(1)</script>"
