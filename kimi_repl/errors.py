"""The one kind of error a person is shown: a line that says what went wrong and what to do."""

from __future__ import annotations


class UserError(Exception):
    """Something the user can act on; ``str(error)`` is one line fit to show, without the API key.

    The REPL shows any of these as one line and carries on; each part of the program raises its own
    subclass (bad settings, a failed request, an unreadable file, a misused command).
    """


class ConfigError(UserError):
    """A setting is missing or wrong (one line that names where it was: the variable, or the file and its line)."""
