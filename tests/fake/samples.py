"""Sample texts: realistic markdown and code for the tests and bench/, and the hostile replies of ``%attack NAME N``."""

from __future__ import annotations

BENCH_END = "Bench reply complete."


def markdown_sample(kilobytes: int) -> str:
    """Realistic markdown of about ``kilobytes`` KB: headings, lists, a table, fenced code, CJK."""
    section = (
        "## Section {n}: streaming markdown\n\n"
        "A paragraph of prose explains **bold ideas**, `inline code` and a [link](https://example.com). "
        "中文段落也会出现，用来检查宽字符的对齐与换行。\n\n"
        "- first point about item {n}\n- second point, with *emphasis*\n- third point\n\n"
        "| name | value | note |\n|---|---|---|\n| alpha | {n} | ok |\n| beta | {m} | 好 |\n\n"
        '```python\ndef handler_{n}(event):\n    total = sum(range({n}))\n    return f"{{event}}: {{total}}"\n```\n\n'
    )
    return _repeated(section, kilobytes)


def _repeated(template: str, kilobytes: int) -> str:
    """``template`` formatted with ``n`` = 1, 2, … (and ``m`` = 7n) until the text reaches ``kilobytes`` KB."""
    parts: list[str] = []
    size = 0
    while not parts or size < kilobytes * 1024:
        n = len(parts) + 1
        parts.append(template.format(n=n, m=n * 7))
        size += len(parts[-1].encode())
    return "".join(parts)


HOSTILE_REPLY = (
    "Clearing your screen\x1b[2J\x1b[H and retitling it\x1b]0;pwned\x07, writing your clipboard "
    "\x1b]52;c;cm0gLXJmIH4=\x07, ending a paste \x1b[201~ and a C1 CSI \x9b31m.\n\n"
    "Log in at [https://bank.example/login](https://evil.example/x).\n\n"
    "Reversed: \u202eelif.exe\u202c and hidden\u200bspace, \U000e0069\U000e0067\U000e006e tags.\n\n"
    '```python\nif access_level != "user\u202e \u2066// Check if admin\u2069 \u2066":\n    grant()\n```\n'
)
"""A reply that tries every trick a reply can try on a terminal, a clipboard and a file."""


PAGE_ATTACKS = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="http://evil.example/a">a link</a>',
    '<meta http-equiv="refresh" content="0;url=http://evil.example/m">',
    '<base href="http://evil.example/">',
    "<style>body { background: url(http://evil.example/s) }</style>",
    '<iframe src="http://evil.example/f"></iframe>',
    '<form action="http://evil.example/p"><button formaction="http://evil.example/b">go</button></form>',
    "<svg onload=alert(1)><math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "</details></div></article><script>alert(2)</script>",
    "<!-- never closed",
    "<![CDATA[ ]]> <?php ?>",
)
"""Raw HTML a reply may hold to attack a saved page: each must show as the text it is."""
PAGE_HOSTILE_REPLY = (
    "Here is a page-breaking reply.\n\n"
    + "\n\n".join(PAGE_ATTACKS)
    + "\n\n[click me](javascript:alert(1)) [spoof](http://evil.example/l) [x](&#106;avascript:alert(1)) "
    "<http://evil.example/auto> ![pixel](http://evil.example/p.png) "
    "[data](data:text/html,<script>alert(3)</script>)\n\n"
    "| 列 | `<script>` |\n|---|---|\n| 中文 | <b>bold?</b> |\n\n"
    '```html\n<script src="http://evil.example/c.js"></script>\n```\n\n'
    "Hidden: \u202eelif.exe\u202c and a NUL \x00 here; entities &lt;script&gt; &#x202E;.\n"
)
"""A reply that tries every trick a reply can try on a saved HTML page (``%page``); its reasoning holds some too."""


PACE_CHUNKS_PER_SECOND = 200
DRIP_CHUNKS_PER_SECOND = 20
"""A model writing slowly, for the first words' delay: they should show as soon as they arrive."""


def code_sample(kilobytes: int) -> str:
    """One fenced block of about ``kilobytes`` KB of Python: a reply that is a single long code block."""
    function = (
        "# Section {n}: a function of the generated module\n"
        "def transform_{n}(rows: list[dict[str, int]], limit: int = {m}) -> dict[str, int]:\n"
        '    """Sum the values of each key, up to ``limit`` rows (说明：宽字符注释)."""\n'
        "    totals: dict[str, int] = {{}}\n"
        "    for index, row in enumerate(rows):\n"
        "        if index >= limit:\n"
        "            break\n"
        "        for key, value in row.items():\n"
        "            totals[key] = totals.get(key, 0) + value * {n}  # scaled by the section number\n"
        "    return totals\n\n\n"
    )
    return "```python\n" + _repeated(function, kilobytes).rstrip("\n") + "\n```\n\n"


def drip_reply() -> str:
    """A short reply for the first words' delay at :data:`DRIP_CHUNKS_PER_SECOND`: a heading and a paragraph,
    then the line the benchmark waits for."""
    return markdown_sample(1).split("\n\n")[0] + "\n\nA short paragraph follows the heading.\n\n" + BENCH_END + "\n"


def bench_reply(kilobytes: int, *, code: bool = False) -> str:
    """The benchmark's reply: ``kilobytes`` KB of markdown (or of one code block), then the line it waits for."""
    return (code_sample(kilobytes) if code else markdown_sample(kilobytes)) + BENCH_END + "\n"


def _ended(text: str) -> str:
    """``text``, then a blank line and the line the benchmark waits for (its own block: it shows even when the
    block before it is drawn cut short, with a note)."""
    return text.rstrip("\n") + "\n\n" + BENCH_END + "\n"


def attack_brackets(n: int) -> str:
    """100 KB × ``n`` of ``<`` in one paragraph (a regular expression that restarted at each one took minutes)."""
    return _ended("Angle brackets: " + "<" * (100 * 1024 * n))


def attack_line(n: int) -> str:
    """One paragraph of 1 MB × ``n`` on a single line: prose with inline markdown and Chinese, no newline."""
    phrase = "The quick **brown** fox jumps over the `lazy` dog, [twice](https://example.com); 中文也在这一行。 "
    size = len(phrase.encode())
    return _ended(phrase * -(-1024 * 1024 * n // size))


def attack_table(n: int) -> str:
    """A markdown table of 25,000 × ``n`` rows."""
    rows = "".join(f"| {i} | item {i} | {7 * i} | ok |\n" for i in range(1, 25_000 * n + 1))
    return _ended("| # | name | value | note |\n|---|---|---|---|\n" + rows)


def attack_lines(n: int) -> str:
    """One paragraph of 125,000 × ``n`` short lines (no blank line between them)."""
    return _ended("".join(f"line {i}\n" for i in range(1, 125_000 * n + 1)))


def attack_links(n: int) -> str:
    """25,000 × ``n`` links in one paragraph, eight to a line."""
    links = (f"[link {i}](https://example.com/{i})" + (" " if i % 8 else "\n") for i in range(1, 25_000 * n + 1))
    return _ended("".join(links))


def attack_nesting(n: int) -> str:
    """Block quotes, lists and both together, each nested 10,000 × ``n`` deep (one line each)."""
    depth = 10_000 * n
    return _ended(
        "> " * depth
        + "quoted\n\n"
        + "- " * depth
        + "listed\n\n"
        + "> - " * (depth // 2)
        + "both\n\n"
        + "1. " * depth
        + "numbered\n"
    )


def attack_code(n: int) -> str:
    """One fenced code block of 2.5 MB × ``n``."""
    return _ended(code_sample(2560 * n))


ATTACKS_TEXT = {
    "brackets": attack_brackets,
    "line": attack_line,
    "table": attack_table,
    "lines": attack_lines,
    "links": attack_links,
    "nesting": attack_nesting,
    "code": attack_code,
}
"""Hostile replies streamed as a model would, N for their size: ``%attack NAME N``."""
