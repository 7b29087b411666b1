"""Benchmark kimi-repl against floors no client can beat by much, in real pseudo-terminals, in one run.

The floors (each a process in its own pty, reading the same stream from the same fake server):

- **raw floor** (``bench/raw_floor.py``): the standard library reads the SSE stream, ``json.loads`` per
  event, and writes each piece to the terminal: what a plain-text client pays;
- **render-once floor** (``bench/render_floor.py``): rich renders the final reply's markdown once, in one
  ``Console.print(Markdown(...))``: what showing rendered markdown costs at the least;
- **bare loop** (``bench/bare_loop.py``): prompt_toolkit + rich, a prompt and nothing else: start-up and
  memory;
- **SDK floor** (``bench/sdk_floor.py``): the raw floor with the request and the stream going through the openai
  SDK and its HTTP client, which kimi-repl must use: the floor no such client can beat;
- **launch floor** (``bench/launch_floor.py``): a prompt loop that sends what is typed through the openai SDK
  and prints the reply: from launch to the first words of an answer to a message typed at once;
- **memory floor** (``bench/memory_floor.py``): prompt_toolkit, rich's markdown and an openai client loaded,
  and the reply held twice: what any such client holds after a reply.

Measured: CPU and wall from Enter to the reply's last line on screen (2 KB to 1 MB of markdown, and one
50 KB fenced code block, streamed as fast as the server can); CPU share while streaming at 200 chunks a
second; first words on screen after Enter; start-up to the prompt and to exit on a typed-ahead /exit; peak
memory after the 1 MB reply. Each figure is the median of ``--runs`` runs; kimi-repl and its floors alternate
run by run.

Run from the repository root, with the test extras installed: ``python bench/bench.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pexpect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fake import BENCH_END, DRIP_CHUNKS_PER_SECOND, PACE_CHUNKS_PER_SECOND, bench_reply  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CURSOR_POSITION_REQUEST = b"\x1b[6n"
FIRST_WORDS = b"Section 1"
PACED_KB = 12
STARTUP_RUNS = 10
REPEAT_UP_TO_KB = 100
"""A smaller reply is sent several times in one process, so that kimi-repl's CPU is measured over 100 KB."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Pty:
    """A program in a pty whose output is read as fast as it comes (so the reader never slows it down).

    Like a real terminal it answers cursor-position requests; prompt_toolkit waits for the answer.
    """

    def __init__(self, command: str, args: list[str], env: dict[str, str]) -> None:
        self.child = pexpect.spawn(command, args, env=env, dimensions=(50, 120), echo=False)
        self.child.delaybeforesend = None  # pexpect sleeps 50 ms before each send otherwise: in every measure
        self.output = bytearray()
        self.mark = 0  # where the last match ended: the next one is looked for after it

    def _read(self, timeout: float) -> None:
        data = self.child.read_nonblocking(1 << 16, timeout=timeout)
        for _ in range(data.count(CURSOR_POSITION_REQUEST)):
            self.child.send(b"\x1b[1;1R")
        self.output += data

    def read_until(self, needle: bytes, timeout: float = 300.0) -> float:
        """Read until ``needle`` appears after the previous match; return the time it was seen."""
        return self.read_until_any([needle], timeout)

    def read_until_any(self, needles: list[bytes], timeout: float = 300.0) -> float:
        """Read until one of ``needles`` appears after the previous match; return the time it was seen.

        Only what arrived since the last look is searched (and the end of what came before, where a needle
        may have begun): a reply of many megabytes is not searched again at every read.
        """
        deadline = time.monotonic() + timeout
        start = self.mark
        longest = max(len(needle) for needle in needles)
        while True:
            found = [(at, needle) for needle in needles if (at := self.output.find(needle, start)) != -1]
            if found:
                at, needle = min(found)
                self.mark = at + len(needle)
                return time.perf_counter()
            if time.monotonic() > deadline:
                raise RuntimeError(f"never saw {needles!r}; last output: {bytes(self.output[-500:])!r}")
            start = max(self.mark, len(self.output) - longest + 1)
            with contextlib.suppress(pexpect.TIMEOUT):
                self._read(0.5)

    def send_big(self, data: bytes, timeout: float = 300.0) -> None:
        """Write ``data`` however long, reading the output meanwhile: a terminal pasting megabytes writes as fast
        as the program reads, and never stops reading what the program writes."""
        fd = self.child.child_fd
        view = memoryview(data)
        sent = 0
        deadline = time.monotonic() + timeout
        os.set_blocking(fd, False)
        try:
            while sent < len(data):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {sent:,} of {len(data):,} bytes were read in {timeout:g} s")
                readable, writable, _ = select.select([fd], [fd], [], 0.5)
                if readable:
                    with contextlib.suppress(pexpect.TIMEOUT):
                        self._read(0)
                if writable:
                    with contextlib.suppress(BlockingIOError):
                        sent += os.write(fd, view[sent : sent + (1 << 16)])
        finally:
            os.set_blocking(fd, True)

    def wait_exit(self, timeout: float = 60.0) -> float:
        deadline = time.monotonic() + timeout
        while self.child.isalive() and time.monotonic() < deadline:
            with contextlib.suppress(pexpect.TIMEOUT, pexpect.EOF):
                self._read(0.05)
        end = time.perf_counter()
        self.child.close(force=True)
        return end


@dataclass
class Reply:
    """One reply shown by one program."""

    wall: float
    cpu: float
    first_words: float
    memory: float = 0.0


def startup(command: str, args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds from spawning ``command`` to its prompt (its first cursor-position request: prompt_toolkit draws
    the prompt then), and to its exit on a typed-ahead /exit."""
    begin = time.perf_counter()
    pty = Pty(command, args, env)
    pty.child.send(b"/exit\r")
    prompt = pty.read_until(CURSOR_POSITION_REQUEST, timeout=60) - begin
    return prompt, pty.wait_exit() - begin


def launch_first_words(command: str, args: list[str], env: dict[str, str], message: str) -> float:
    """Seconds from spawning ``command`` to the first words of the reply to ``message``, typed at once."""
    begin = time.perf_counter()
    pty = Pty(command, args, env)
    pty.child.send(f"{message}\r".encode())
    first = pty.read_until(FIRST_WORDS, timeout=60) - begin
    pty.read_until(BENCH_END.encode(), timeout=60)
    with contextlib.suppress(OSError):  # kimi-repl's prompt is back; the floor may have ended on its own
        pty.child.send(b"/exit\r")
    pty.wait_exit()
    return first


def memory_floor(text: Path) -> float:
    """Peak memory of the memory floor holding the reply in ``text``."""
    found = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "memory_floor.py"), "--text", str(text)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(found.stdout.strip())


def bare_memory(env: dict[str, str]) -> float:
    """Peak memory of the bare loop once its prompt is up."""
    pty = Pty(sys.executable, [str(ROOT / "bench" / "bare_loop.py")], env)
    pty.read_until(b"to quit")
    time.sleep(0.5)  # its prompt is up
    memory = peak_rss_mb(pty.child.pid)
    pty.child.send(b"/exit\r")
    pty.wait_exit()
    return memory


def warm_kimi(env: dict[str, str]) -> Pty:
    """kimi-repl at its prompt after a first message and a pause, as a person would have it."""
    pty = Pty(shutil.which("kimi-repl") or "kimi-repl", ["--thinking", "off"], env)
    pty.read_until("›".encode())
    pty.child.send(b"warm up\r")  # imports the SDK and opens the connection, as any first message does
    pty.read_until(b"Echo 1: warm up")
    pty.read_until("›".encode())
    time.sleep(1.5)  # as long as a person takes to type: kimi-repl's background warm-up has finished
    return pty


def kimi_reply(env: dict[str, str], message: str, *, repeat: int = 1) -> Reply:
    """kimi-repl showing the reply to ``message`` (after a first message and a pause, as a person would).

    The message is typed first and the measures start at Enter. With ``repeat``, it is sent that many times
    in a row and each figure is the mean per reply: the kernel counts a process's CPU in ticks of 10 ms, too
    coarse for one small reply.
    """
    pty = warm_kimi(env)
    cpu = wall = first_words = 0.0
    for _ in range(repeat):
        pty.child.send(message.encode())
        pty.read_until(message.encode())
        cpu_before = cpu_seconds(pty.child.pid)
        begin = time.perf_counter()
        pty.child.send(b"\r")
        first_words += pty.read_until(FIRST_WORDS) - begin
        wall += pty.read_until(BENCH_END.encode()) - begin
        cpu += cpu_seconds(pty.child.pid) - cpu_before
        pty.read_until("›".encode())
    memory = peak_rss_mb(pty.child.pid)
    pty.child.send(b"/exit\r")
    pty.wait_exit()
    return Reply(wall / repeat, cpu / repeat, first_words / repeat, memory)


def floor_reply(script: str, args: list[str], env: dict[str, str], *, ready_after: float = 1.0) -> Reply:
    """A floor program showing the reply, started by Enter; it reports its own CPU seconds."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        report = Path(handle.name)
    try:
        pty = Pty(sys.executable, [str(ROOT / "bench" / script), *args, "--report", str(report)], env)
        time.sleep(ready_after)  # its imports are done: kimi-repl is measured warm too
        begin = time.perf_counter()
        pty.child.send(b"\r")
        first = pty.read_until(FIRST_WORDS)
        end = pty.read_until(BENCH_END.encode())
        pty.wait_exit()
        cpu = float(json.loads(report.read_text())["cpu"])
    finally:
        report.unlink(missing_ok=True)
    return Reply(end - begin, cpu, first - begin)


def start_server(*options: str) -> tuple[subprocess.Popen[str], str]:
    """The fake server in its own process (accepting any key), and its base URL once it is ready."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.fake", "--port", str(port), "--key", "", *options],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    server.stdout.readline()  # ready
    return server, f"http://127.0.0.1:{port}/v1"


def bench_env(base_url: str, home: Path) -> dict[str, str]:
    """The environment every measured program runs in: a fresh home, a known terminal, the fake server."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "MOONSHOT_API_KEY": "sk-bench",
        "MOONSHOT_BASE_URL": base_url,
        "MOONSHOT_MODEL": "kimi-k2.6",
    }


def machine() -> str:
    """The processor's name and count, and Python's version: the heading of a table of results."""
    cpu_name = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    return f"{cpu_name}, {os.cpu_count()} CPUs · Python {platform.python_version()}"


def median(values: list[float]) -> float:
    return statistics.median(values)


def ratio(value: float, floor: float) -> str:
    return f"{value / floor:.2f}x" if floor > 0 else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 20, 200, 1024], help="reply sizes in KB")
    parser.add_argument("--code-kb", type=int, default=50, help="size of the one-code-block reply (0: none)")
    args = parser.parse_args()

    server, base_url = start_server()
    home = Path(tempfile.mkdtemp(prefix="kimi-bench-"))
    env = bench_env(base_url, home)
    rows: list[tuple[str, str, str, str, str]] = []

    def row(name: str, ours: str, floor: str, relation: str, target: str) -> None:
        rows.append((name, ours, floor, relation, target))
        print(f"  {name}: {ours} vs {floor} -> {relation}", file=sys.stderr)

    try:
        kimi = shutil.which("kimi-repl")
        if kimi is None:
            raise SystemExit("kimi-repl is not installed: pip install '.[test]' first")
        ours_runs, bare_runs = [], []
        for _ in range(max(args.runs, STARTUP_RUNS)):  # a start is short: more runs steady the median
            ours_runs.append(startup(kimi, [], env))
            bare_runs.append(startup(sys.executable, [str(ROOT / "bench" / "bare_loop.py")], env))
        for index, what in enumerate(("start-up to the prompt", "start-up to exit on /exit")):
            ours, bare = median([r[index] for r in ours_runs]), median([r[index] for r in bare_runs])
            row(what, f"{ours:.3f} s", f"{bare:.3f} s (bare loop)", ratio(ours, bare), "≤ 1.1x")

        launched, launched_floor = [], []
        for _ in range(max(args.runs, 5)):
            launched.append(launch_first_words(kimi, ["--thinking", "off"], env, "%bench 2"))
            floor_args = [str(ROOT / "bench" / "launch_floor.py"), "--base-url", base_url]
            launched_floor.append(launch_first_words(sys.executable, floor_args, env, "%bench 2"))
        ours, floor = median(launched), median(launched_floor)
        row(
            "first words from launch, a message typed at once",
            f"{ours:.3f} s",
            f"{floor:.3f} s (a prompt loop sending through the SDK)",
            ratio(ours, floor),
            "≤ 1.1x",
        )

        per_kb: dict[int, float] = {}
        first_words: list[tuple[float, float]] = []
        memory = 0.0
        texts = Path(tempfile.mkdtemp(prefix="kimi-bench-text-"))

        def streamed(label: str, size: int, *, code: bool = False) -> tuple[Reply, Reply]:
            """Measure one reply against its floors, add its rows; return kimi-repl's and the raw floor's."""
            message = f"%{'benchcode' if code else 'bench'} {size}"
            text = texts / f"{size}{'-code' if code else ''}.md"
            text.write_text(bench_reply(size, code=code), encoding="utf-8")
            mine_runs: list[Reply] = []
            raw_runs: list[Reply] = []
            sdk_runs: list[Reply] = []
            once_runs: list[Reply] = []
            asking = ["--base-url", base_url, "--message", message]
            for _ in range(args.runs):
                mine_runs.append(kimi_reply(env, message, repeat=max(1, REPEAT_UP_TO_KB // size)))
                raw_runs.append(floor_reply("raw_floor.py", asking, env))
                sdk_runs.append(floor_reply("sdk_floor.py", asking, env, ready_after=2.0))
                once_runs.append(floor_reply("render_floor.py", ["--text", str(text)], env, ready_after=1.5))
            cpu, wall = median([r.cpu for r in mine_runs]), median([r.wall for r in mine_runs])
            raw_cpu, raw_wall = median([r.cpu for r in raw_runs]), median([r.wall for r in raw_runs])
            once_cpu = median([r.cpu for r in once_runs])
            floor_cpu, floor_wall = raw_cpu + once_cpu, raw_wall + once_cpu
            row(
                f"{label}, CPU",
                f"{cpu:.3f} s",
                f"{floor_cpu:.3f} s (raw {raw_cpu:.3f} + render-once {once_cpu:.3f})",
                ratio(cpu, floor_cpu),
                "≤ 1.2x",
            )
            sdk_cpu = median([r.cpu for r in sdk_runs])
            row(
                f"{label}, CPU against the SDK floor",
                f"{cpu:.3f} s",
                f"{sdk_cpu + once_cpu:.3f} s (raw through the SDK {sdk_cpu:.3f} + render-once {once_cpu:.3f})",
                ratio(cpu, sdk_cpu + once_cpu),
                "≤ 1.1x",
            )
            row(
                f"{label}, wall (Enter to last line)",
                f"{wall:.3f} s",
                f"{floor_wall:.3f} s (raw wall {raw_wall:.3f} + render-once CPU)",
                ratio(wall, floor_wall),
                "≤ 1.2x",
            )
            mine = Reply(wall, cpu, median([r.first_words for r in mine_runs]), max(r.memory for r in mine_runs))
            return mine, Reply(raw_wall, raw_cpu, median([r.first_words for r in raw_runs]))

        for size in args.sizes:
            mine, raw = streamed(f"{size} KB reply", size)
            per_kb[size] = mine.cpu / size * 1000
            first_words.append((mine.first_words, raw.first_words))
            memory = mine.memory
        largest_text = texts / f"{max(args.sizes)}.md"
        floor_mb = median([memory_floor(largest_text) for _ in range(args.runs)])
        if args.code_kb:
            streamed(f"one {args.code_kb} KB code block", args.code_kb, code=True)
        shutil.rmtree(texts, ignore_errors=True)

        small, large = min(args.sizes), max(args.sizes)
        row(
            f"CPU per KB, {small} KB vs {large} KB",
            f"{per_kb[small]:.2f} vs {per_kb[large]:.2f} ms",
            "",
            ratio(per_kb[large], per_kb[small]),
            "flat (≤ 1x)",
        )
        ours_first, raw_first = median([f[0] for f in first_words]), median([f[1] for f in first_words])
        row(
            "first words on screen after Enter",
            f"{ours_first * 1000:.1f} ms",
            f"{raw_first * 1000:.1f} ms (raw floor)",
            ratio(ours_first, raw_first),
            "≤ 1.2x",
        )

        dripped, dripped_raw = [], []
        for _ in range(max(args.runs, 3)):
            dripped.append(kimi_reply(env, "%drip").first_words)
            raw = floor_reply("raw_floor.py", ["--base-url", base_url, "--message", "%drip"], env)
            dripped_raw.append(raw.first_words)
        ours_first, raw_first = median(dripped), median(dripped_raw)
        row(
            f"first words after Enter, reply at {DRIP_CHUNKS_PER_SECOND} chunks/s",
            f"{ours_first * 1000:.1f} ms",
            f"{raw_first * 1000:.1f} ms (raw floor)",
            ratio(ours_first, raw_first),
            "≤ 1.2x",
        )

        paced, paced_raw = [], []
        for _ in range(args.runs):
            mine = kimi_reply(env, f"%pace {PACED_KB}")
            paced.append(mine.cpu / mine.wall)
            raw = floor_reply("raw_floor.py", ["--base-url", base_url, "--message", f"%pace {PACED_KB}"], env)
            paced_raw.append(raw.cpu / raw.wall)
        row(
            f"CPU share streaming at {PACE_CHUNKS_PER_SECOND} chunks/s",
            f"{median(paced) * 100:.1f}% of a core",
            f"{median(paced_raw) * 100:.1f}% (raw floor)",
            "",
            "≤ 3%",
        )
        bare_mb = median([bare_memory(env) for _ in range(args.runs)])
        allowed = 2 * bare_mb + 10 * large / 1024
        row(
            f"peak memory after the {large} KB reply",
            f"{memory:.0f} MB",
            f"{allowed:.0f} MB (2 × bare loop {bare_mb:.0f} MB + 10 × the reply)",
            ratio(memory, allowed),
            "≤ 1x",
        )
        row(
            f"peak memory after the {large} KB reply, against the memory floor",
            f"{memory:.0f} MB",
            f"{floor_mb:.0f} MB (prompt_toolkit, rich's markdown, an openai client, the reply twice)",
            ratio(memory, floor_mb),
            "≤ 1.2x",
        )
    finally:
        server.terminate()
        shutil.rmtree(home, ignore_errors=True)

    print(f"kimi-repl benchmark · {time.strftime('%Y-%m-%d')} · {machine()} · median of {args.runs} runs\n")
    print("| measure | kimi-repl | floor | ratio | target |")
    print("|---|---|---|---|---|")
    for entry in rows:
        print("| " + " | ".join(entry) + " |")


if __name__ == "__main__":
    main()
