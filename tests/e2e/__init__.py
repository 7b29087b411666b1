"""End to end: the installed ``kimi-repl`` in a pseudo-terminal (or a pipe) against the fake server."""
