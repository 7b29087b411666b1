"""The memory floor: what any client like kimi-repl must hold after showing a reply, and no client holds less.

It loads what such a client must (prompt_toolkit with a prompt session, rich's markdown with a console, an
openai client with its HTTP client), reads the reply from ``--text`` and holds it twice (the conversation's
copy and the one being drawn or saved), renders a little markdown, and prints its peak memory in MB.
"""

from __future__ import annotations

import argparse
import io
import resource
import sys


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--text", required=True)
    args = parser.parse_args()
    from openai import OpenAI
    from prompt_toolkit import PromptSession
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput
    from rich.console import Console
    from rich.markdown import Markdown

    with create_pipe_input() as pipe:
        session: PromptSession[str] = PromptSession(input=pipe, output=DummyOutput())
        client = OpenAI(api_key="sk-bench", base_url="http://127.0.0.1:9/v1")
        console = Console(file=io.StringIO(), force_terminal=True, width=100)
        console.print(Markdown("# Title\n\nSome *text*.\n\n```python\nx = 1\n```\n"))
        with open(args.text, encoding="utf-8") as handle:
            reply = handle.read()
        held = [reply, "".join(reversed(reply))]  # two copies, not one shared object
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
        print(f"{peak:.1f}")
        sys.stdout.flush()
        del held, session, client


if __name__ == "__main__":
    main()
