"""Hypothesis strategies for conversations as a model, a user or a hostile file could make them: any unicode,
markdown, HTML, and every marker and heading the saved forms use themselves."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from kimi_repl.conversation import Conversation, Document, Image, Output, Turn, Usage
from kimi_repl.identity import clean_title

# Text a model or a user could produce: any unicode but lone surrogates, plus markdown and our own markers.
plain = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=120)


tricky = st.sampled_from(
    [
        "# Heading\n",
        "```python\nprint('hi')\n```\n",
        "```\n",
        "~~~~\n",
        "<!-- kimi-repl:turn {} -->",
        "\n<!-- kimi-repl:answer -->\n",
        "\\<!-- kimi-repl:transcript {} -->",
        "\n<!-- kimi-repl:metadata\n{}\n-->\n",
        '<!-- kimi-repl:metadata: x\n{"format": "kimi-repl-transcript", "version": 3}\n-->',
        "\n## You · 10:11:12\n\n",
        "\n## Kimi · kimi-k2.6 · 10:11:14\n\n",
        "\n\\## You\n",
        "## Kimi\n",
        "<details><summary>Thinking</summary>\n\n",
        "\n\n</details>\n",
        "</DETAILS>",
        "⟨U+003C⟩/details>",
        "<!--\n",
        "<pre>\n",
        "<details>\n",
        "\n- item\n\n  ```\n",
        "> ```\n",
        "<script>alert(1)</script>",
        "<![CDATA[\n",
        "<?php\n",
        "<!DOCTYPE html>",
        "| a | b |\n|---|---|\n",
        "中文，日本語、한국어",
        "\r\n",
        "\n\n",
        " ",
        "\\",
        "-->",
        "",
    ]
)


texts = st.lists(st.one_of(plain, tricky), max_size=8).map("".join)


numbers = st.floats(min_value=0, max_value=4e9, allow_nan=False)


temperatures = st.one_of(st.none(), st.floats(min_value=0, max_value=1))


models = st.one_of(st.sampled_from(["kimi-k2-turbo-preview", "moonshot-v1-8k", "kimi-k2-thinking", "kimi-k2.6"]), plain)


usages = st.one_of(  # as kimi-repl keeps usage: the counts it read, in Moonshot's shape
    st.none(),
    st.builds(
        lambda *counts: Usage(*counts),
        st.integers(0, 10**6),
        st.integers(0, 10**6),
        st.integers(0, 10**3),
        st.integers(0, 10**3),
    ),
)


placeholders = st.builds(  # a picture as the Markdown form keeps it: its name and type, not its data
    Image, name=plain, mime=st.sampled_from(["image/png", "image/jpeg", "image/webp", "image/gif"]), data=st.just("")
)


outputs = st.builds(
    Output, command=plain, text=texts, status=st.one_of(st.none(), st.integers(-9, 255)), cut=st.integers(0, 10**6)
)


searches = st.dictionaries(st.sampled_from(["id", "query", "arguments"]), plain, max_size=3)


@st.composite
def conversations(draw: Any, *, extras: bool = True) -> Conversation:
    """A conversation; with ``extras``, its turns may also carry pictures (names only), shell commands' output,
    web searches, thinking choices and replies written by several models."""
    count = draw(st.integers(0, 6))
    turns = []
    for index in range(count):
        common = {
            "content": draw(texts),
            "model": draw(st.one_of(st.none(), models)),
            "temperature": draw(temperatures),
            "system": draw(st.one_of(st.none(), texts)),
            "created": draw(numbers),
        }
        if extras:
            common["thinking"] = draw(st.one_of(st.none(), st.booleans()))
        if index % 2 == 0:
            more = {"images": draw(st.lists(placeholders, max_size=2)), "outputs": draw(st.lists(outputs, max_size=2))}
            turns.append(Turn(role="user", **common, **(more if extras else {})))
        else:
            more = {
                "searches": draw(st.lists(searches, max_size=2)),
                "written_by": draw(st.lists(models, max_size=2)),
                "spent": draw(usages),
            }
            turns.append(
                Turn(
                    role="assistant",
                    reasoning_content=draw(texts),
                    finish_reason=draw(st.sampled_from([None, "stop", "length"])),
                    interrupted=draw(st.booleans()),
                    incomplete=draw(st.booleans()),
                    usage=draw(usages),
                    finished=draw(st.one_of(st.none(), numbers)),
                    **common,
                    **(more if extras else {}),
                )
            )
    documents = draw(
        st.lists(st.builds(Document, name=plain, content=texts, file_id=st.one_of(st.none(), plain)), max_size=2)
    )
    named = draw(plain.map(clean_title)) if extras else ""
    return Conversation(
        named=named,
        named_by=draw(st.sampled_from(["user", "model"])) if named else None,
        model=draw(st.sampled_from(["kimi-k2-turbo-preview", "moonshot-v1-32k", "kimi-latest", "kimi-k2.6"])),
        temperature=draw(temperatures),
        system=draw(st.one_of(st.none(), texts.filter(bool))),
        thinking=draw(st.one_of(st.none(), st.booleans())) if extras else None,
        web=draw(st.booleans()) if extras else False,
        turns=turns,
        documents=documents,
        context_start=draw(st.integers(0, len(turns) // 2)) * 2,
        id=draw(st.sampled_from("0123456789abcdef")) + draw(st.text(alphabet="0123456789abcdef-", max_size=23)),
        created=draw(numbers),
    )
