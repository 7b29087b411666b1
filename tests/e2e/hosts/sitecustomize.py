"""Test-only: names in ``KIMI_REPL_TEST_HOSTS`` (comma-separated) resolve to 127.0.0.1.

End-to-end tests put this folder on ``PYTHONPATH`` to play a "remote" host that is really the fake server on
loopback: nothing ever leaves the machine.
"""

from __future__ import annotations

import os
import socket
from typing import Any

_NAMES = {name for name in os.environ.get("KIMI_REPL_TEST_HOSTS", "").split(",") if name}

if _NAMES:
    _resolve = socket.getaddrinfo

    def _loopback(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        return _resolve("127.0.0.1" if name in _NAMES else host, *args, **kwargs)

    socket.getaddrinfo = _loopback
