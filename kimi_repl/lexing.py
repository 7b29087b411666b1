"""Code highlighting within a time limit: pygments' lexers, stopped when they take too long.

Some of pygments' lexers take exponential time on text a hostile reply can hold: highlighting runs under
:func:`highlight_limit`, and a language that ran out of time once is drawn plain from then on
(:data:`PLAIN_LEXERS`). The terminal (:mod:`kimi_repl.highlight`) and the saved page (:mod:`kimi_repl.page`)
both highlight this way.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

HIGHLIGHT_SECONDS = 1.0
"""The longest one drawing may spend highlighting code. Some of pygments' lexers take exponential time on
text a hostile reply can hold (an unclosed string of backslashes in Scala, a long word in a Makefile); past
this the block is drawn plain, and so is that language for the rest of the run."""

PLAIN_LEXERS: set[str] = set()
"""Languages whose highlighting ran out of time once: drawn plain from then on (a process-wide memo)."""


class SlowHighlight(Exception):
    """Highlighting ran past :data:`HIGHLIGHT_SECONDS`."""


@contextlib.contextmanager
def highlight_limit() -> Iterator[None]:
    """Raise :class:`SlowHighlight` in the block after :data:`HIGHLIGHT_SECONDS` (the regular expression
    engine checks for signals as it works). A timer signal where there is one; on Windows a timer thread that
    interrupts the main thread, told apart from the user's Ctrl-C. In another thread the block runs unlimited."""
    if threading.current_thread() is not threading.main_thread():
        yield
    elif sys.platform != "win32" and TIMER_SIGNAL:
        with _alarm():
            yield
    else:
        with _interrupting_timer():
            yield


TIMER_SIGNAL = True
"""Use SIGALRM where the platform has it (the tests turn it off to run the Windows way)."""


def _too_slow(signum: int, frame: Any) -> None:
    raise SlowHighlight


if sys.platform != "win32":

    @contextlib.contextmanager
    def _alarm() -> Iterator[None]:
        previous = signal.signal(signal.SIGALRM, _too_slow)
        signal.setitimer(signal.ITIMER_REAL, HIGHLIGHT_SECONDS)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def _interrupting_timer() -> Iterator[None]:
    """Windows: a native timer interrupts the main thread as Ctrl-C would (a Python thread could not: the
    regular expression engine holds the interpreter lock). An interrupt past the deadline is the timer's."""
    deadline = time.monotonic() + HIGHLIGHT_SECONDS
    state = {"over": False}

    def on_sigint(signum: int, frame: Any) -> None:
        if time.monotonic() < deadline:
            _pass_on(previous, signum, frame)  # the user's own Ctrl-C
        elif not state["over"]:
            state["over"] = True
            raise SlowHighlight
        # else: the timer's interrupt arrived as the block ended: it is nobody's Ctrl-C

    previous = signal.signal(signal.SIGINT, on_sigint)
    cancel = ARM_INTERRUPT(HIGHLIGHT_SECONDS)
    try:
        yield
    finally:
        state["over"] = True
        cancel()  # waits for a timer that is firing
        if time.monotonic() >= deadline:
            _let_signals_run()  # a pending interrupt from the timer is handled (and dropped) here
        signal.signal(signal.SIGINT, previous)


def _windows_timer(seconds: float) -> Callable[[], None]:
    """Interrupt the main thread after ``seconds`` from a native timer; return what cancels it (nothing
    happens where the timer cannot be made)."""
    try:
        import ctypes

        kernel32 = getattr(ctypes, "windll").kernel32  # noqa: B009 (only Windows has it)
        handle = ctypes.c_void_p()
        callback = ctypes.cast(ctypes.pythonapi.PyErr_SetInterrupt, ctypes.c_void_p)
        made = kernel32.CreateTimerQueueTimer(
            ctypes.byref(handle),
            None,
            callback,
            None,
            int(seconds * 1000),
            0,
            0x00000008,  # WT_EXECUTEONLYONCE
        )
    except (AttributeError, OSError):
        return lambda: None
    if not made:
        return lambda: None
    return lambda: kernel32.DeleteTimerQueueTimer(None, handle, ctypes.c_void_p(-1))  # -1: wait for the callback


ARM_INTERRUPT: Callable[[float], Callable[[], None]] = _windows_timer
"""What starts the interrupting timer (the tests give a POSIX stand-in)."""


def _let_signals_run() -> None:
    """A Python call: the interpreter runs pending signal handlers at the next one."""


def _pass_on(handler: Any, signum: int, frame: Any) -> None:
    if callable(handler):
        handler(signum, frame)
    elif handler != signal.SIG_IGN:
        raise KeyboardInterrupt


def lexer_of(info: str) -> str:
    """The language a fence's info string names ("text" when none)."""
    return info.strip().partition(" ")[0] or "text"
