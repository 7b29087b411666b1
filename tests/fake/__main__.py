"""``python -m tests.fake --port 8765``: the fake Moonshot server, for trying kimi-repl by hand."""

from tests.fake.server import main

main()
