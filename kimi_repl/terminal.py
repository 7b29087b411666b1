"""The terminal between prompts: keys typed ahead kept as typed, a hang-up ending the session cleanly.

POSIX terminals only where it matters (termios, select); elsewhere each is a no-op with the same outcome.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator

from kimi_repl.interrupts import deliver
from kimi_repl.replstate import ReplState


@contextlib.contextmanager
def typeahead_mode() -> Iterator[None]:
    """While a reply streams, keep keys typed ahead unechoed and unaltered until the next prompt reads them.

    Without this the terminal is in cooked mode between prompts: typed keys would be echoed over the
    reply, and an Enter typed ahead would arrive as a newline (``ICRNL``) instead of sending. Ctrl-C
    still raises KeyboardInterrupt (``ISIG`` stays on).
    """
    if sys.platform == "win32":  # no termios: keys typed ahead are left to the console
        yield
        return
    try:
        import termios

        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
    except (ImportError, OSError, ValueError):
        yield
        return
    quiet = list(saved)
    quiet[0] &= ~(termios.ICRNL | termios.INLCR | termios.IGNCR)
    quiet[3] &= ~(termios.ECHO | termios.ICANON | termios.IEXTEN)
    try:
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
    except termios.error:
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(termios.error):
            termios.tcsetattr(fd, termios.TCSANOW, saved)


@contextlib.contextmanager
def hangup_ends(state: ReplState) -> Iterator[None]:
    """A closed terminal (SIGHUP) or ``kill`` (SIGTERM) ends the session like Ctrl-C then /exit.

    A reply streaming at that moment is kept, marked interrupted, and saved before the program leaves.
    """

    def stop(signum: int, frame: object) -> None:
        state.exit_requested = True
        deliver()  # now, or once the conversation and its file agree again

    wanted = [getattr(signal, name) for name in ("SIGHUP", "SIGTERM") if hasattr(signal, name)]
    try:
        previous = {number: signal.signal(number, stop) for number in wanted}
    except ValueError:  # not the main thread (tests): nothing to install
        yield
        return
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def typed_ahead() -> bool:
    """Whether keys wait on standard input already (typed before the prompt showed); False where it cannot say."""
    try:
        import select

        return bool(select.select([sys.stdin], [], [], 0)[0]) if sys.platform != "win32" else False
    except (OSError, ValueError, TypeError):
        return False
