"""kimi-repl: a terminal chat client for Moonshot's Kimi models."""

__version__ = "0.1.0"
APP_NAME = "kimi-repl"
