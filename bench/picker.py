"""How quickly the session picker opens and filters with thousands of sessions.

A temporary home holds ``--sessions`` sessions (2,000 by default: most a few turns of a few hundred characters,
one in four with a Chinese title, one in ten branched, ``--huge`` of them about 4 MB each). Measured:

- loading the catalog (``SessionStore.catalog``): the first time (no index yet) and then (the index read);
- building the picker's rows (cells cleaned, labels folded, column widths);
- filtering, per keystroke, a query typed a character at a time and then taken back, each keystroke also drawing
  the window of rows on a 120 x 40 screen; the same while the messages are searched in a thread;
- searching the messages for one word (the background search, with no limit);
- from launching ``kimi-repl -r`` in a pseudo-terminal to the picker's first screen (and, for scale, ``kimi-repl``
  to its prompt), each the median of ``--runs``.

Run from the repository root, with the test extras installed: ``python bench/picker.py`` (``--sessions N --huge N
--runs N``). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pexpect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import Pty, machine  # noqa: E402
from kimi_repl.choosing import Choosing  # noqa: E402
from kimi_repl.redaction import Secret  # noqa: E402
from kimi_repl.sessionpicker import SessionPicker  # noqa: E402
from kimi_repl.sessions import SessionStore  # noqa: E402
from tests.sessionfiles import sessions_folder, write_many  # noqa: E402

QUERIES = ["how do i tune the rust", "缓存策略 async", "notes on kernel 7"]
INDEX = "sessions.index"
TYPED = "tune rust 19"
"""Typed in the picker in the pty, a key at a time (quicker than the messages are searched after a pause)."""


def seconds(action: Callable[[], object]) -> float:
    begin = time.perf_counter()
    action()
    return time.perf_counter() - begin


def keystrokes(state: Choosing, query: str) -> list[float]:
    """Seconds for each keystroke of ``query`` typed then taken back: the filter, and the window drawn."""
    typed = [query[:end] for end in range(1, len(query) + 1)]
    times = []
    for text in [*typed, *reversed(typed[:-1]), ""]:
        begin = time.perf_counter()
        state.filter(text)
        state.lines(120, 36)
        times.append(time.perf_counter() - begin)
    return times


def launch_to_screen(home: Path, args: list[str], seen: bytes, typed: str = "") -> tuple[float, list[float]]:
    """Seconds from spawning ``kimi-repl ARGS`` to ``seen`` on its screen, then from each key of ``typed`` to the
    last of what it drew; then it is made to leave."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "MOONSHOT_API_KEY": "sk-bench",
        "MOONSHOT_BASE_URL": "http://127.0.0.1:9/v1",  # never asked: the picker shows before anything is sent
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
    }
    command = shutil.which("kimi-repl") or "kimi-repl"
    begin = time.perf_counter()
    pty = Pty(command, args, env)
    pty.child.delaybeforesend = None  # pexpect sleeps 50 ms before each send otherwise
    shown = pty.read_until(seen, timeout=120) - begin
    settled(pty)
    keys = []
    for key in typed:
        sent = time.perf_counter()
        pty.child.send(key.encode())
        keys.append(settled(pty) - sent)
    pty.child.send(b"\x1b" if args else b"/exit\r")
    pty.wait_exit()
    return shown, keys


def settled(pty: Pty, quiet: float = 0.1) -> float:
    """When the program last wrote something, once it has written nothing for ``quiet`` seconds."""
    last = time.perf_counter()
    while True:
        before = len(pty.output)
        with contextlib.suppress(pexpect.TIMEOUT):
            pty._read(quiet)
        if len(pty.output) == before:
            return last
        last = time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--huge", type=int, default=5, help="sessions of about 4 MB among them")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="kimi-bench-picker-"))
    rows: list[tuple[str, str]] = []

    def row(name: str, value: str) -> None:
        rows.append((name, value))
        print(f"  {name}: {value}", file=sys.stderr)

    try:
        folder = sessions_folder(home)
        made = seconds(lambda: write_many(folder, args.sessions, huge=args.huge))
        size = sum(path.stat().st_size for path in folder.glob("*.jsonl")) / 1_048_576
        print(f"  {args.sessions:,} sessions, {size:.0f} MB, made in {made:.1f} s", file=sys.stderr)
        store = SessionStore(folder, secret=None)

        def cold() -> object:
            (folder / INDEX).unlink(missing_ok=True)
            return store.catalog()

        row("catalog, no index yet (every file read)", f"{statistics.median(seconds(cold) for _ in range(3)):.3f} s")
        store.catalog()
        warm = [seconds(store.catalog) for _ in range(args.runs)]
        row("catalog, the index read", f"{statistics.median(warm):.3f} s")

        sessions = SessionPicker(store, secret=None)
        now = time.time()
        build = []
        for _ in range(args.runs):
            begin = time.perf_counter()
            shown = sessions.picker(now)
            state = Choosing(shown.columns, shown.rows, clean=shown.clean)
            state.lines(120, 36)
            build.append(time.perf_counter() - begin)
        row(
            f"the picker's rows built and first drawn ({args.sessions:,} rows)",
            f"{statistics.median(build) * 1000:.1f} ms",
        )
        secret = SessionPicker(store, secret=Secret("sk-bench-0123456789abcdef"))
        begin = time.perf_counter()
        shown = secret.picker(now)
        Choosing(shown.columns, shown.rows, clean=shown.clean)
        row("the same, the API key taken out of every cell", f"{(time.perf_counter() - begin) * 1000:.1f} ms")

        per_key = [t for query in QUERIES for t in keystrokes(state, query)]
        row(
            f"per keystroke: filter {args.sessions:,} rows and draw the window ({len(per_key)} keystrokes)",
            f"median {statistics.median(per_key) * 1000:.2f} ms, slowest {max(per_key) * 1000:.2f} ms",
        )
        deep = [seconds(lambda: store.scan_for(["trade-offs"], None)) for _ in range(3)]
        row("searching the messages for a word every session holds", f"{statistics.median(deep):.2f} s")
        rare = [seconds(lambda: store.scan_for(["nowhere-at-all"], None)) for _ in range(3)]
        row("searching the messages for a word none holds", f"{statistics.median(rare):.2f} s")
        stop = threading.Event()

        def search_until_stopped() -> None:
            while not stop.is_set():
                store.scan_for(["trade-offs"], None, stop=stop.is_set)

        searcher = threading.Thread(target=search_until_stopped)
        searcher.start()
        during = [t for query in QUERIES for t in keystrokes(state, query)]
        stop.set()
        searcher.join()
        row(
            "per keystroke while the messages are searched in a thread",
            f"median {statistics.median(during) * 1000:.2f} ms, slowest {max(during) * 1000:.2f} ms",
        )

        (folder / INDEX).unlink(missing_ok=True)
        count = f"{args.sessions:,}".encode()
        first, _ = launch_to_screen(home, ["-r"], count)
        row("`kimi-repl -r` to the picker's first screen, no index yet", f"{first:.3f} s")
        launches = [launch_to_screen(home, ["-r"], count, TYPED) for _ in range(args.runs)]
        row("`kimi-repl -r` to the picker's first screen", f"{statistics.median(s for s, _ in launches):.3f} s")
        drawn = [t for _, keys in launches for t in keys]
        row(
            f"a key typed in the picker to the screen drawn, in the pty ({TYPED!r}, {len(drawn)} keys)",
            f"median {statistics.median(drawn) * 1000:.1f} ms, slowest {max(drawn) * 1000:.1f} ms",
        )
        prompts = [launch_to_screen(home, [], "›".encode())[0] for _ in range(args.runs)]
        row("`kimi-repl` to its prompt, for scale", f"{statistics.median(prompts):.3f} s")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(f"kimi-repl session picker · {machine()} · {args.sessions:,} sessions, {size:.0f} MB\n")
    print("| measure | time |")
    print("|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
