"""Benchmark kimi-repl against its floors, in a real pseudo-terminal, and print a Markdown table.

Each figure is the median of ``--runs`` runs; each ratio is over a floor measured in the same run:

- start-up: spawning ``kimi-repl`` in a pty until it exits on a typed-ahead ``/exit``, over the same for a
  bare prompt_toolkit + rich loop (``bench/bare_loop.py``);
- streaming: a reply of N KB of markdown streamed by the fake server as fast as it can, from Enter to the
  reply's last line on screen, over the bare openai SDK reading the same stream (``bench/sdk_floor.py``);
  and the REPL's CPU seconds over the SDK's;
- peak memory (VmHWM) of the REPL after the largest reply.

Run from the repository root, with the test extras installed: ``python bench/bench.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pexpect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fake_server import BENCH_END  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


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


CURSOR_POSITION_REQUEST = b"\x1b[6n"


class Pty:
    """A program in a pty whose output is read as fast as it comes (so the reader never slows it down).

    Like a real terminal it answers cursor-position requests; prompt_toolkit waits for the answer.
    """

    def __init__(self, command: str, args: list[str], env: dict[str, str]) -> None:
        self.child = pexpect.spawn(command, args, env=env, dimensions=(50, 120), echo=False)
        self.output = bytearray()

    def _read(self, timeout: float) -> None:
        data = self.child.read_nonblocking(1 << 16, timeout=timeout)
        for _ in range(data.count(CURSOR_POSITION_REQUEST)):
            self.child.send(b"\x1b[1;1R")
        self.output += data

    def read_until(self, needle: bytes, timeout: float = 120.0) -> float:
        """Read until ``needle`` has appeared (after what was read before the call); return the time it did."""
        start = len(self.output)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self._read(0.5)
            except pexpect.TIMEOUT:
                continue
            if self.output.find(needle, max(0, start - len(needle))) != -1:
                return time.perf_counter()
        raise RuntimeError(f"never saw {needle!r}; last output: {bytes(self.output[-500:])!r}")

    def wait_exit(self, timeout: float = 30.0) -> float:
        deadline = time.monotonic() + timeout
        while self.child.isalive() and time.monotonic() < deadline:
            with contextlib.suppress(pexpect.TIMEOUT, pexpect.EOF):
                self._read(0.05)
        end = time.perf_counter()
        self.child.close(force=True)
        return end


def startup(command: str, args: list[str], env: dict[str, str]) -> float:
    """Seconds from spawning ``command`` to its exit on a typed-ahead /exit."""
    begin = time.perf_counter()
    pty = Pty(command, args, env)
    pty.child.send(b"/exit\r")
    return pty.wait_exit() - begin


def repl_reply(env: dict[str, str], kilobytes: int) -> tuple[float, float, float]:
    """Wall and CPU seconds of kimi-repl showing an N KB reply, and its peak RSS in MB afterwards."""
    pty = Pty(shutil.which("kimi-repl") or "kimi-repl", [], env)
    pty.read_until("›".encode())
    pty.child.send(b"warm up\r")  # imports the SDK and opens the connection, as any first message does
    pty.read_until(b"Echo 1: warm up")
    pty.read_until("›".encode())
    time.sleep(1.5)  # as long as a person takes to type: kimi-repl's background warm-up has finished
    cpu_before = cpu_seconds(pty.child.pid)
    begin = time.perf_counter()
    pty.child.send(f"!bench {kilobytes}\r".encode())
    end = pty.read_until(BENCH_END.encode())
    cpu = cpu_seconds(pty.child.pid) - cpu_before
    memory = peak_rss_mb(pty.child.pid)
    pty.read_until("›".encode())
    pty.child.send(b"/exit\r")
    pty.wait_exit()
    return end - begin, cpu, memory


def sdk_reply(base_url: str, kilobytes: int) -> tuple[float, float]:
    """Wall and CPU seconds of the bare SDK reading the same reply."""
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "sdk_floor.py"),
            "--base-url",
            base_url,
            "--message",
            f"!bench {kilobytes}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(result.stdout)
    return float(data["wall"]), float(data["cpu"])


def ratio(value: float, floor: float) -> str:
    return f"{value / floor:.2f}x" if floor > 0 else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 20, 200], help="reply sizes in KB")
    args = parser.parse_args()

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_server", "--port", str(port), "--key", ""],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    server.stdout.readline()  # ready
    base_url = f"http://127.0.0.1:{port}/v1"
    home = Path(tempfile.mkdtemp(prefix="kimi-bench-"))
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "MOONSHOT_API_KEY": "sk-bench",
        "MOONSHOT_BASE_URL": base_url,
    }
    rows: list[tuple[str, str, str, str, str]] = []
    try:
        kimi = shutil.which("kimi-repl")
        if kimi is None:
            raise SystemExit("kimi-repl is not installed: pip install '.[test]' first")
        # Runs alternate between kimi-repl and its floor, so that a busy moment of the machine hits both.
        ours_runs, bare_runs = [], []
        for _ in range(args.runs):
            ours_runs.append(startup(kimi, [], env))
            bare_runs.append(startup(sys.executable, [str(ROOT / "bench" / "bare_loop.py")], env))
        ours, bare = statistics.median(ours_runs), statistics.median(bare_runs)
        rows.append(
            ("start-up to exit on /exit", f"{ours:.3f} s", f"{bare:.3f} s (bare loop)", ratio(ours, bare), "≤ 1.3x")
        )

        per_kb: dict[int, tuple[float, float]] = {}
        memory = 0.0
        for size in args.sizes:
            repl_runs, sdk_runs = [], []
            for _ in range(args.runs):
                repl_runs.append(repl_reply(env, size))
                sdk_runs.append(sdk_reply(base_url, size))
            wall = statistics.median(r[0] for r in repl_runs)
            cpu = statistics.median(r[1] for r in repl_runs)
            memory = max(r[2] for r in repl_runs)
            sdk_wall = statistics.median(r[0] for r in sdk_runs)
            sdk_cpu = statistics.median(r[1] for r in sdk_runs)
            largest = size == max(args.sizes)
            rows.append(
                (
                    f"{size} KB reply, wall",
                    f"{wall:.3f} s",
                    f"{sdk_wall:.3f} s (SDK)",
                    ratio(wall, sdk_wall),
                    "≤ 1.5x" if largest else "",
                )
            )
            rows.append(
                (
                    f"{size} KB reply, CPU",
                    f"{cpu:.3f} s",
                    f"{sdk_cpu:.3f} s (SDK)",
                    ratio(cpu, sdk_cpu),
                    "≤ 3x" if largest else "",
                )
            )
            per_kb[size] = (wall / size * 1000, cpu / size * 1000)
        small, large = min(args.sizes), max(args.sizes)
        rows.append(
            (
                "wall per KB, smallest vs largest",
                f"{per_kb[small][0]:.1f} vs {per_kb[large][0]:.1f} ms",
                "",
                ratio(per_kb[large][0], per_kb[small][0]),
                "does not grow",
            )
        )
        rows.append(
            (
                "CPU per KB, smallest vs largest",
                f"{per_kb[small][1]:.1f} vs {per_kb[large][1]:.1f} ms",
                "",
                ratio(per_kb[large][1], per_kb[small][1]),
                "does not grow",
            )
        )
        rows.append((f"peak RSS after the {large} KB reply", f"{memory:.0f} MB", "", "", ""))
    finally:
        server.terminate()
        shutil.rmtree(home, ignore_errors=True)

    cpu_name = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    print(
        f"kimi-repl benchmark · {time.strftime('%Y-%m-%d')} · {cpu_name}, {os.cpu_count()} CPUs · "
        f"Python {platform.python_version()} · median of {args.runs} runs\n"
    )
    print("| measure | kimi-repl | floor | ratio | target |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
