"""Ctrl-C at any moment, without losing or wedging anything.

Python raises KeyboardInterrupt wherever the main thread happens to be. Where the conversation and its
session file change together (a message recorded, a reply added, a message withdrawn), an interrupt must
wait: inside :func:`held` the signal is noted, and raised when the block ends. Where the program waits for
the network or draws a reply, it must stop at once: inside :func:`allowed` (within a held block) it is raised
there, and the code around turns it into a state (the reply interrupted, the request cancelled).

A closed terminal or ``kill`` (SIGHUP, SIGTERM) is delivered the same way, through :func:`deliver`.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType


class _State:
    """The main thread's: only it receives signals, so only it holds them."""

    depth = 0  # nesting of held blocks
    allowing = False  # inside an allowed block of the innermost held one
    pending = False  # an interrupt arrived while held


_state = _State()


def may_raise() -> bool:
    """Whether an interrupt arriving now is raised at once (False: it waits for the held block to end)."""
    return _state.depth == 0 or _state.allowing


def deliver() -> None:
    """An interrupt arrived: raise KeyboardInterrupt now if that is safe, else note it for later.

    Raises:
        KeyboardInterrupt: when :func:`may_raise`.
    """
    if may_raise():
        raise KeyboardInterrupt
    _state.pending = True


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    deliver()


class held:
    """Ctrl-C waits until the block ends (a class, not a generator: it is entered once per streamed token).

    Args:
        then_raise: raise a KeyboardInterrupt that arrived meanwhile once the block is done (False: drop it,
            when what it would have stopped has finished anyway).
    """

    __slots__ = ("_active", "_allowing", "_outermost", "_then_raise")

    def __init__(self, *, then_raise: bool = True) -> None:
        self._then_raise = then_raise

    def __enter__(self) -> None:
        # Signals reach the main thread only: elsewhere there is nothing to hold.
        self._active = threading.get_ident() == _MAIN_THREAD
        if not self._active:
            return
        self._outermost = _state.depth == 0
        if self._outermost:
            _install()  # first: until depth counts this block, the handler raises as Python's own does
            _state.pending = False
        self._allowing = _state.allowing
        _state.allowing = False  # from here an interrupt is noted, not raised (so nothing below is cut short)
        _state.depth += 1

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if not self._active:
            return
        _state.depth -= 1  # first: an interrupt landing here is still noted (or raised, outside any hold)
        _state.allowing = self._allowing
        raise_now = kind is None and _state.pending and may_raise()
        if raise_now or self._outermost:
            _state.pending = False
        if raise_now and self._then_raise:
            raise KeyboardInterrupt


class allowed:
    """Ctrl-C stops the block at once, even inside a held one (and one that arrived before it, at its start)."""

    __slots__ = ("_active", "_allowing")

    def __enter__(self) -> None:
        self._active = _state.depth > 0 and threading.get_ident() == _MAIN_THREAD
        if not self._active:
            return
        self._allowing = _state.allowing
        if _state.pending:
            _state.pending = False
            raise KeyboardInterrupt
        _state.allowing = True  # last: an interrupt after this is inside the block, and __exit__ runs

    def __exit__(self, *exception: object) -> None:
        if self._active:
            _state.allowing = self._allowing


@contextlib.contextmanager
def taken(lock: threading.Lock) -> Iterator[None]:
    """``lock`` held for the block, taken inside a held one: while another thread has it, Ctrl-C stops the wait
    at once (and never leaves the lock taken: it is raised only between tries)."""
    with held():
        while not lock.acquire(timeout=0.05):
            with allowed():  # an interrupt that arrived meanwhile is raised here
                pass
        try:
            yield
        finally:
            lock.release()


def _install() -> None:
    """Let SIGINT go through :func:`deliver` (left in place: outside a held block it raises as Python's own does;
    prompt_toolkit puts Python's back after each prompt, so it is installed again each time)."""
    if signal.getsignal(signal.SIGINT) is not _on_sigint:
        signal.signal(signal.SIGINT, _on_sigint)


_MAIN_THREAD = threading.main_thread().ident
