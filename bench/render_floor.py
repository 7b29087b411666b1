"""The render-once floor: rich renders the whole reply's markdown once, in one ``Console.print(Markdown(...))``.

No client that shows the reply as rendered markdown can spend less on rendering. The markdown machinery is
warmed up first (as kimi-repl warms it while the user types); then, on Enter, the reply is rendered to the
terminal and the CPU seconds it took are written to ``--report``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from rich.console import Console
from rich.markdown import Markdown


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--text", required=True, help="a file holding the reply")
    parser.add_argument("--report", required=True)
    args = parser.parse_args()
    with open(args.text, encoding="utf-8") as handle:
        text = handle.read()
    console = Console()
    warm = Console(file=open("/dev/null", "w"), force_terminal=True)  # noqa: SIM115
    warm.print(Markdown("# t\n\n*a* `b`\n\n- c\n\n| d | e |\n|---|---|\n| 1 | 2 |\n\n```python\nx = 1\n```\n"))
    sys.stdin.readline()  # Enter
    cpu = time.process_time()
    console.print(Markdown(text, code_theme="monokai"))
    with open(args.report, "w") as report:
        json.dump({"cpu": time.process_time() - cpu}, report)


if __name__ == "__main__":
    main()
