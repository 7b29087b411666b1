"""How long the session folder takes to use when it is big: /sessions WORDS and /sessions over 1,000 sessions of
20 turns, and resuming a session of 2,000 turns then /history on it.

Run from the repository root: ``python bench/sessions.py`` (``--sessions N --turns N --long N --runs N``).
Prints a Markdown table; each figure is the median of the runs.
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402

from kimi_repl.commands.context import CommandContext  # noqa: E402
from kimi_repl.commands.shared import show_history  # noqa: E402
from kimi_repl.config import Settings  # noqa: E402
from kimi_repl.conversation import Conversation, Turn, Usage  # noqa: E402
from kimi_repl.display import Display  # noqa: E402
from kimi_repl.listing import show_sessions  # noqa: E402
from kimi_repl.sessions import SessionStore  # noqa: E402

WORDS = ["kernel", "scheduler", "内存", "latency", "rust", "python", "async", "索引", "cache", "vector"]


def write_session(store: SessionStore, number: int, turns: int) -> Path:
    """A session like a real one: questions and markdown answers of a few hundred characters."""
    conversation = Conversation(model="kimi-k2.6", id=f"20261125-{number:06d}-bench")
    log = store.new_log(conversation)
    records = []
    for index in range(turns // 2):
        topic = WORDS[(number + index) % len(WORDS)]
        question = conversation.add_user(f"Question {index} about {topic} in session {number}?")
        answer = Turn(
            role="assistant",
            content=f"## On {topic}\n\nA paragraph about **{topic}** and its trade-offs, 中文也有。\n\n"
            + "- a point\n- another point\n\n```python\nprint('hello')\n```\n" * 3,
            model="kimi-k2.6",
            usage=Usage(100 * index, 200),
        )
        conversation.add_reply(answer)
        records += [question, answer]
    log.turn(*records)
    log.close()
    return log.path


def median_seconds(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        begin = time.perf_counter()
        action()
        times.append(time.perf_counter() - begin)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--long", type=int, default=2000, help="turns of the long session")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="kimi-bench-sessions-"))
    try:
        store = SessionStore(folder, secret=None)
        for number in range(args.sessions):
            write_session(store, number, args.turns)
        long_path = write_session(store, args.sessions, args.long)
        size = sum(path.stat().st_size for path in folder.glob("*.jsonl")) / 1_048_576
        quiet = Display(Console(file=io.StringIO(), width=120, force_terminal=True))

        def resume_and_history() -> None:
            session = CommandContext.open(Settings(api_key="sk-bench"), quiet, store=store)
            session.chat.resume(long_path)
            show_history(session)
            session.chat.close()

        rows = [
            (
                f"/sessions WORDS over {args.sessions} sessions of {args.turns} turns (two words, all match)",
                median_seconds(lambda: show_sessions(quiet, store, ["session", "question"]), args.runs),
            ),
            (
                "/sessions WORDS, a rare pair (every file read, few replayed)",
                median_seconds(lambda: show_sessions(quiet, store, ["kernel", "session 17?"]), args.runs),
            ),
            (
                "/sessions WORDS, no match",
                median_seconds(lambda: show_sessions(quiet, store, ["nowhere-to-be-found"]), args.runs),
            ),
            ("/sessions (the 20 most recent)", median_seconds(lambda: show_sessions(quiet, store, []), args.runs)),
            (f"resume a session of {args.long} turns, then /history", median_seconds(resume_and_history, args.runs)),
        ]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"Session folder: {args.sessions + 1} sessions, {size:.1f} MB · median of {args.runs} runs\n")
    print("| measure | seconds | target |")
    print("|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.3f} | well under 1 |")


if __name__ == "__main__":
    main()
