"""Entry point for ``python -m kimi_repl``."""

from kimi_repl.cli import run

run()
