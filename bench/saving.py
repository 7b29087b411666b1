"""How long saving a hostile conversation takes, at 1x, 2x and 4x its size: ``/save x.html`` (the page), ``/save
x.md`` and ``/load x.md`` (the Markdown form there and back), and a title asked of such a reply.

Each hostile reply is one the fake server streams with ``%attack NAME N`` (``tests/fake/samples.py``), plus the
page attacks (``%page``) repeated to the same size. Every figure is CPU seconds in this process (the median of
``--runs``); the growth from 1x is flagged when it is clearly more than the growth of the size.

Run from the repository root: ``python bench/saving.py`` (``--inputs NAME... --scales 1 2 4 --runs N``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kimi_repl.conversation import Conversation, Turn  # noqa: E402
from kimi_repl.identity import clean_title, title_of  # noqa: E402
from kimi_repl.page import to_html  # noqa: E402
from kimi_repl.transcript import from_markdown  # noqa: E402
from kimi_repl.transcript_markdown import to_markdown  # noqa: E402
from tests.fake import ATTACKS_TEXT, PAGE_HOSTILE_REPLY  # noqa: E402

SUPER_LINEAR = 1.3
MIN_FLAGGED_SECONDS = 0.3


def page_attacks(n: int) -> str:
    """The page attacks repeated to about 1 MB × ``n``."""
    return PAGE_HOSTILE_REPLY * max(1, (1024 * 1024 * n) // len(PAGE_HOSTILE_REPLY))


INPUTS: dict[str, Callable[[int], str]] = {**ATTACKS_TEXT, "page": page_attacks}


def conversation_with(reply: str) -> Conversation:
    conversation = Conversation(model="kimi-k2.6", id="20261201-000000-bench")
    conversation.turns = [Turn("user", "attack"), Turn("assistant", reply, model="kimi-k2.6", reasoning_content=reply)]
    return conversation


def cpu(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.process_time()
        action()
        times.append(time.process_time() - start)
    return statistics.median(times)


def measures(conversation: Conversation) -> dict[str, Callable[[], object]]:
    markdown = to_markdown(conversation)
    reply = conversation.turns[1].content
    return {
        "page": lambda: to_html(conversation),
        "markdown": lambda: to_markdown(conversation),
        "load": lambda: from_markdown(markdown, "bench"),
        "title": lambda: (clean_title(reply), title_of(reply)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", nargs="+", default=list(INPUTS), choices=list(INPUTS))
    parser.add_argument("--scales", nargs="+", type=int, default=[1, 2, 4])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    names = ["page", "markdown", "load", "title"]
    print("| input | scale | MB | " + " | ".join(f"{n} CPU s" for n in names) + " | growth |")
    print("|---|---|---|" + "---|" * len(names) + "---|")
    for name in args.inputs:
        first: dict[str, float] = {}
        for scale in args.scales:
            reply = INPUTS[name](scale)
            taken = {m: cpu(f, args.runs) for m, f in measures(conversation_with(reply)).items()}
            first = first or taken
            growth = []
            for measure in names:
                ratio = taken[measure] / first[measure] if first[measure] > 0.01 else 1.0
                flag = taken[measure] > MIN_FLAGGED_SECONDS and ratio > SUPER_LINEAR * scale / args.scales[0]
                growth.append(f"{measure} {ratio:.2f}x{' ⚠' if flag else ''}")
            size = len(reply.encode()) / 1e6
            cells = " | ".join(f"{taken[m]:.3f}" for m in names)
            print(f"| {name} | {scale}x | {size:.1f} | {cells} | {', '.join(growth)} |", flush=True)


if __name__ == "__main__":
    main()
