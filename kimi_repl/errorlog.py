"""The error log: where a bug's traceback goes (without the key), instead of the screen."""

from __future__ import annotations

import os
import time
import traceback
from pathlib import Path

from kimi_repl import __version__
from kimi_repl.config import state_dir
from kimi_repl.redaction import Secret
from kimi_repl.safefiles import NOFOLLOW


def log_internal_error(secret: str) -> Path | None:
    """Append the current exception's traceback (without the key) to the error log; return its path."""
    try:
        path = state_dir() / "error.log"
        when = time.strftime("%Y-%m-%d %H:%M:%S %z")
        text = f"--- {when} · kimi-repl {__version__} ---\n{traceback.format_exc()}"
        fd = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY | NOFOLLOW, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8", errors="replace") as log:
            log.write(Secret(secret).redact(text) + "\n")
        return path
    except OSError:
        return None
