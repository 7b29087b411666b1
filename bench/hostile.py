"""Hostile inputs through the installed kimi-repl, in real pseudo-terminals: what a broken or hostile server (or a
user) can send, at 1x, 2x and 4x its size, each next to the render-once floor for the same final text.

Every input is something a person can do by hand too (see ``tests/fake/``): a directive typed as the
message (``%attack table 2`` streams a table of 50,000 rows), a flag of the fake server (``--models-body
many``), or a bracketed paste. kimi-repl reaches the fake server by ``MOONSHOT_BASE_URL``, as a user's would.

For each input and size: wall time from Enter to the reply's end marker (or its one-line error), and on to the
prompt; kimi-repl's CPU seconds over that; its peak memory (``VmHWM``); the render-once floor's CPU for the same
final text (``bench/render_floor.py``, given up after ``--floor-timeout``); and the growth from the smallest
size, flagged when clearly super-linear. Then one-off checks, each at one size: a chunk nested 100,000 deep, a
lone surrogate, ``choices: [null]``, keep-alive comments only, one stream line over the 8 MB cap.

Run from the repository root, with the test extras installed: ``python bench/hostile.py`` (``--inputs NAME...
--scales 1 2 4 --runs N --skip-floor``). It prints a Markdown table, as ``bench/bench.py`` does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pexpect

from bench import (
    CURSOR_POSITION_REQUEST,
    ROOT,
    Pty,
    bench_env,
    cpu_seconds,
    machine,
    peak_rss_mb,
    start_server,
    warm_kimi,
)
from tests.fake import ATTACKS_TEXT, BENCH_END, SSE_LINE_FIRST, markdown_sample, sse_line_text

PROMPT = "›".encode()
ERROR = "✗".encode()
END = BENCH_END.encode()
CUT_NOTE = b"not shown"
"""What kimi-repl's dim note says when it draws a block or a line cut short."""
MODEL = "kimi-k2.6"
SUPER_LINEAR = 1.3
"""Growth is flagged past 1.3 times the growth of the size: 2.6x at 2x, 5.2x at 4x."""
MIN_FLAGGED_SECONDS = 0.5
"""Below this, at the larger size, a ratio of times is noise (the kernel counts CPU in 10 ms ticks)."""
PASTE_KB = 5 * 1024
NOTE_CHARS = 120
KEEP_ALIVE_TIMEOUT = "3"
"""MOONSHOT_TIMEOUT for the keep-alive check: the error should come about this many seconds after Enter."""
OVER_THE_CAP = 6
"""The one long stream line at this scale is about 9 MB, over the client's 8 MB cap."""
_ESCAPES = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


@dataclass
class Seen:
    """One run of kimi-repl on one input.

    Attributes:
        wall: what the table shows: seconds from the start (Enter, the paste) until the prompt was back, after
            what was waited for (the end marker, the error line); for a paste, until the question; None when it
            did not come within the timeout.
        reached: seconds from the start until what was waited for was first on screen. (A reply that comes in
            one burst shows its end at once, in the live view, and prints the blocks above it afterwards.)
        cpu: kimi-repl's CPU seconds over ``wall``; ``memory``: its peak memory in MB, since it started.
        text: what it wrote meanwhile, without escape sequences.
    """

    wall: float | None
    reached: float | None
    cpu: float
    memory: float
    text: bytes = b""
    note: str = ""


@dataclass(frozen=True)
class Options:
    env: dict[str, str]
    timeout: float
    floor_timeout: float
    texts: Path


@dataclass(frozen=True)
class Input:
    """A hostile input.

    Attributes:
        name: for ``--inputs``; ``label``: for the table; ``size``: its size at scale N, for the table.
        run: one run of kimi-repl on it at scale N.
        floor_text: the final text of the reply at scale N, for the render-once floor (None: no floor).
        scale: None when it is measured at every scale of ``--scales``; else only at this one (a check).
    """

    name: str
    label: str
    size: Callable[[int], str]
    run: Callable[[Options, int], Seen]
    floor_text: Callable[[int], str] | None = None
    scale: int | None = None


# -- running kimi-repl -------------------------------------------------------------------------------------------


def idle(pty: Pty, at_least: float = 1.5, timeout: float = 60.0) -> float:
    """Wait ``at_least`` seconds, then until the program's CPU time stops moving (its background warm-up is
    done); return its CPU seconds then."""
    time.sleep(at_least)
    deadline = time.monotonic() + timeout
    before = cpu_seconds(pty.child.pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu_seconds(pty.child.pid)
        if now == before:
            break
        before = now
    return before


def leave(pty: Pty) -> None:
    """Type /exit and wait for the program to end (killed if it does not)."""
    with contextlib.suppress(OSError):
        pty.child.send(b"/exit\r")
    pty.wait_exit(timeout=10)  # it may still be reading a paste that timed out


def timed(pty: Pty, keys: bytes, until: Sequence[bytes], timeout: float, then: bytes = b"") -> Seen:
    """Send ``keys``; time the first of ``until`` on screen and, after sending ``then``, the prompt."""
    start = len(pty.output)
    cpu_before = cpu_seconds(pty.child.pid)
    begin = time.perf_counter()
    reached = back = None
    with contextlib.suppress(RuntimeError):
        pty.send_big(keys, timeout=timeout)
        reached = pty.read_until_any(list(until), timeout) - begin
        if then:
            pty.child.send(then)
            pty.read_until(MODEL.encode(), timeout=timeout)  # the prompt is redrawn with the model's name
        back = pty.read_until(PROMPT, timeout=timeout) - begin
    text = _ESCAPES.sub(b"", bytes(pty.output[start:]))
    return Seen(back, reached, cpu_seconds(pty.child.pid) - cpu_before, peak_rss_mb(pty.child.pid), text)


def answer(options: Options, message: str, until: Sequence[bytes], env: dict[str, str] | None = None) -> Seen:
    """kimi-repl, warm, answering ``message``: Enter to the first of ``until`` on screen, and to the prompt."""
    pty = warm_kimi({**options.env, **(env or {})})
    try:
        pty.child.send(message.encode())
        pty.read_until(message.encode())
        return timed(pty, b"\r", until, options.timeout)
    finally:
        leave(pty)


def error_lines(text: bytes) -> list[str]:
    """The error lines in ``text``, each from its ✗ to its end (a line the terminal wrapped is joined)."""
    lines = []
    for piece in text.split(ERROR)[1:]:
        line = re.split(rb"\r?\n\r?\n|\r\n(?=\S)|" + re.escape(PROMPT), piece, maxsplit=1)[0]
        lines.append(" ".join(line.decode(errors="replace").split()))
    return lines


def errors_said(errors: list[str]) -> str:
    """The first error line, quoted (its middle left out when it is long)."""
    if not errors:
        return "no error line"
    line = errors[0]
    if len(line) > NOTE_CHARS:  # whole words from its beginning and its end
        line = line[: NOTE_CHARS // 2].rsplit(" ", 1)[0] + " … " + line[-NOTE_CHARS // 2 :].split(" ", 1)[-1]
    more = f" ({len(errors)} error lines)" if len(errors) > 1 else ""
    return f"“{line}”{more}"


def reply(name: str) -> Callable[[Options, int], Seen]:
    """``%attack NAME N``: until its end marker; noted when something was drawn cut, or an error shown."""

    def run(options: Options, n: int) -> Seen:
        seen = answer(options, f"%attack {name} {n}", [END])
        notes = ["drawn cut, with a note"] if CUT_NOTE in seen.text else []
        if ERROR in seen.text:
            notes.append(f"an error: {errors_said(error_lines(seen.text))}")
        seen.note = "; ".join(notes)
        return seen

    return run


def fault(message: str, partial: str, why: str, env: dict[str, str] | None = None) -> Callable[[Options, int], Seen]:
    """A stream that breaks: until the error line, which must be one, say ``why``, and keep ``partial`` (if any)."""

    def run(options: Options, n: int) -> Seen:
        seen = answer(options, message, [ERROR], env)
        errors = error_lines(seen.text)
        verdict = [f"{len(errors)} error line{'' if len(errors) == 1 else 's'}"]
        if seen.reached is not None:
            verdict[0] += f" after {seen.reached:.2f} s"
        if partial:
            shown = partial.encode() in seen.text
            kept = bool(errors) and "partial reply is kept" in errors[0]
            verdict.append("the partial shown and kept" if shown and kept else "THE PARTIAL IS NOT SHOWN OR NOT KEPT")
        if errors and why not in errors[0]:
            verdict.append("NOT THE EXPECTED ERROR")
        seen.note = ", ".join(verdict) + f": {errors_said(errors)}"
        return seen

    return run


def surrogate(options: Options, n: int) -> Seen:
    """A lone surrogate: replaced by U+FFFD, no error, the reply goes on to its end."""
    seen = answer(options, f"%attack surrogate {n}", [END])
    shown = "\ufffd".encode() in seen.text
    seen.note = ("shown as U+FFFD" if shown else "NO U+FFFD SHOWN") + ", " + errors_said(error_lines(seen.text))
    return seen


def paste(options: Options, n: int) -> Seen:
    """A bracketed paste of 5 MB × ``n`` at the prompt: until kimi-repl asks about it; then 'n', and the prompt."""
    text = markdown_sample(PASTE_KB * n).encode()
    pty = Pty(shutil.which("kimi-repl") or "kimi-repl", ["--thinking", "off"], options.env)
    try:
        pty.read_until(PROMPT)
        idle(pty)
        seen = timed(pty, b"\x1b[200~" + text + b"\x1b[201~", [b"? y keeps"], options.timeout, then=b"n")
    finally:
        leave(pty)
    if seen.wall is not None and seen.reached is not None:
        seen.note = f"asked; after 'n' the prompt was back in {seen.wall - seen.reached:.2f} s"
    seen.wall = seen.reached
    return seen


def models(kind: str) -> Callable[[Options, int], Seen]:
    """A server whose ``GET /models`` is hostile (``--models-body KIND``): start-up to the prompt, the background
    fetch (in the note), then ``/models``: until its list or its error line, and the prompt."""

    def run(options: Options, n: int) -> Seen:
        server, base_url = start_server("--models-body", kind, "--models-scale", str(n))
        try:
            begin = time.perf_counter()
            pty = Pty(
                shutil.which("kimi-repl") or "kimi-repl",
                ["--thinking", "off"],
                {**options.env, "MOONSHOT_BASE_URL": base_url},
            )
            try:
                started = pty.read_until(CURSOR_POSITION_REQUEST, timeout=60) - begin
                pty.read_until(PROMPT)
                background = idle(pty)
                pty.child.send(b"/models")
                pty.read_until(b"/models")
                seen = timed(pty, b"\r", [b"Models", ERROR], options.timeout)
            finally:
                leave(pty)
        finally:
            server.terminate()
            server.wait()
        errors = error_lines(seen.text)
        listed = len(re.findall(rb"^\s*m\d+\b", seen.text, re.MULTILINE))
        what = errors_said(errors) if errors else f"{listed:,} models listed"
        seen.note = f"start-up to the prompt {started:.2f} s, {background:.2f} s CPU until idle; {what}"
        return seen

    return run


# -- the floor ---------------------------------------------------------------------------------------------------


def render_once(options: Options, text: str) -> float | None:
    """CPU seconds of the render-once floor for ``text``; None when it took longer than ``--floor-timeout`` (or
    failed)."""
    source, report = options.texts / "reply.md", options.texts / "report.json"
    source.write_text(text, encoding="utf-8")
    report.unlink(missing_ok=True)
    script = str(ROOT / "bench" / "render_floor.py")
    pty = Pty(sys.executable, [script, "--text", str(source), "--report", str(report)], options.env)
    try:
        time.sleep(1.5)  # its imports are done, as kimi-repl's are
        pty.child.send(b"\r")
        with contextlib.suppress(RuntimeError, pexpect.EOF):
            pty.read_until(END, timeout=options.floor_timeout)
            pty.wait_exit(timeout=options.floor_timeout)
    finally:
        pty.child.close(force=True)
    return float(json.loads(report.read_text())["cpu"]) if report.exists() else None


# -- the inputs --------------------------------------------------------------------------------------------------


def sized(unit: float, what: str) -> Callable[[int], str]:
    def size(n: int) -> str:
        amount = unit * n
        return f"{amount:,.1f}".rstrip("0").rstrip(".") + f" {what}"

    return size


INPUTS = [
    Input("brackets", "`<` in one paragraph", sized(100, "KB"), reply("brackets"), ATTACKS_TEXT["brackets"]),
    Input("line", "one line, in 6-character chunks", sized(1, "MB"), reply("line"), ATTACKS_TEXT["line"]),
    Input("table", "a table", sized(25_000, "rows"), reply("table"), ATTACKS_TEXT["table"]),
    Input("lines", "one paragraph of short lines", sized(125_000, "lines"), reply("lines"), ATTACKS_TEXT["lines"]),
    Input("links", "links in one paragraph", sized(25_000, "links"), reply("links"), ATTACKS_TEXT["links"]),
    Input("nesting", "quotes and lists nested", sized(10_000, "deep"), reply("nesting"), ATTACKS_TEXT["nesting"]),
    Input("code", "one fenced code block", sized(2.5, "MB"), reply("code"), ATTACKS_TEXT["code"]),
    Input(
        "sseline",
        "one SSE line of markdown, in 1 KB pieces",
        sized(1.5, "MB"),
        reply("sseline"),
        lambda n: SSE_LINE_FIRST + sse_line_text(n),
    ),
    Input("paste", "a bracketed paste, until asked about", sized(5, "MB"), paste),
    Input("models-id", "`/models`, the server listing one long id", sized(5, "MB id"), models("long-id")),
    Input("models-many", "`/models`, the server listing many", sized(200_000, "models"), models("many")),
    Input(
        "sseline-cap",
        "one SSE line over the 8 MB cap",
        sized(1.5, "MB"),
        fault(f"%attack sseline {OVER_THE_CAP}", "One long event follows.", "more than 8 MB"),
        scale=OVER_THE_CAP,
    ),
    Input(
        "deep",
        "a chunk nested deep",
        sized(100_000, "deep"),
        fault("%attack deep 1", "The part before the deep chunk.", "not JSON"),
        scale=1,
    ),
    Input("surrogate", "a lone surrogate `\\ud800`", lambda n: "one", surrogate, scale=1),
    Input(
        "null",
        "`choices: [null]` after some text",
        lambda n: "one",
        fault("%attack null 1", "The part before the null choice.", "not a list of objects"),
        scale=1,
    ),
    Input(
        "pings",
        f"keep-alive comments only, MOONSHOT_TIMEOUT={KEEP_ALIVE_TIMEOUT}",
        lambda n: "forever",
        fault("%attack pings", "", "keep-alive", {"MOONSHOT_TIMEOUT": KEEP_ALIVE_TIMEOUT}),
        scale=1,
    ),
]


# -- the table ---------------------------------------------------------------------------------------------------


def growth(ours: Seen, base: Seen, times: float) -> str:
    """Wall and CPU at this size over the smallest, flagged when clearly super-linear."""
    if ours.wall is None:
        return "⚠ timed out"
    if base.wall is None:
        return ""
    wall, cpu = ours.wall / base.wall, ours.cpu / max(base.cpu, 0.01)
    flagged = any(
        ratio > SUPER_LINEAR * times and value >= MIN_FLAGGED_SECONDS
        for ratio, value in ((wall, ours.wall), (cpu, ours.cpu))
    )
    return f"{wall:.2f}x · {cpu:.2f}x" + (" ⚠ super-linear" if flagged else "")


def middle(runs: list[Seen]) -> Seen:
    """The median of each figure over the runs (a run that timed out counts as the slowest); the notes of the
    median run by wall time."""
    walls = [float("inf") if seen.wall is None else seen.wall for seen in runs]
    wall = statistics.median_high(walls)
    noted = runs[walls.index(wall)]
    return Seen(
        None if wall == float("inf") else wall,
        noted.reached,
        statistics.median(seen.cpu for seen in runs),
        statistics.median(seen.memory for seen in runs),
        note=noted.note,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", nargs="+", choices=[i.name for i in INPUTS], help="default: all of them")
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--runs", type=int, default=1, help="runs of each; the median is shown")
    parser.add_argument("--skip-floor", action="store_true", help="do not run the render-once floor")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds a run of kimi-repl may take")
    parser.add_argument("--floor-timeout", type=float, default=90.0, help="seconds a floor run may take")
    args = parser.parse_args()
    if shutil.which("kimi-repl") is None:
        raise SystemExit("kimi-repl is not installed: pip install '.[test]' first")
    chosen = [i for i in INPUTS if args.inputs is None or i.name in args.inputs]
    scales = sorted(set(args.scales))

    began = time.monotonic()
    server, base_url = start_server()
    home = Path(tempfile.mkdtemp(prefix="kimi-hostile-"))
    texts = Path(tempfile.mkdtemp(prefix="kimi-hostile-text-"))
    options = Options(bench_env(base_url, home), args.timeout, args.floor_timeout, texts)
    rows: list[list[str]] = []
    try:
        for spec in chosen:
            first: Seen | None = None
            for n in [spec.scale] if spec.scale else scales:
                runs, floors = [], []
                for _ in range(args.runs):  # kimi-repl and its floor alternate, run by run
                    runs.append(spec.run(options, n))
                    if spec.floor_text and not args.skip_floor:
                        floors.append(render_once(options, spec.floor_text(n)))
                seen = middle(runs)
                floor = ""
                if floors:
                    done = [f for f in floors if f is not None]
                    floor = (
                        f"{statistics.median(done):.2f} s"
                        if len(done) == len(floors)
                        else f"> {args.floor_timeout:g} s"
                    )
                grew = growth(seen, first, n / scales[0]) if first is not None else ""
                first = first or seen
                row = [
                    f"{spec.label} (`{spec.name}`)",
                    spec.size(n),
                    f"> {args.timeout:g} s" if seen.wall is None else f"{seen.wall:.2f} s",
                    f"{seen.cpu:.2f} s",
                    f"{seen.memory:.0f} MB",
                    floor,
                    grew,
                    seen.note,
                ]
                rows.append(row)
                print("  " + " | ".join(row), file=sys.stderr, flush=True)
    finally:
        server.terminate()
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(texts, ignore_errors=True)

    minutes = (time.monotonic() - began) / 60
    print(
        f"kimi-repl hostile inputs · {time.strftime('%Y-%m-%d')} · {machine()} · median of {args.runs} "
        f"run{'s' if args.runs != 1 else ''} · {minutes:.0f} min in all\n"
    )
    print(
        "| input | size | wall: to the prompt (a paste: to its question) | CPU | peak memory | render-once floor, CPU "
        "| growth from the smallest: wall · CPU | what it showed |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")


if __name__ == "__main__":
    main()
