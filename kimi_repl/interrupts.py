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


@contextlib.contextmanager
def held(*, then_raise: bool = True) -> Iterator[None]:
    """Ctrl-C waits until the block ends.

    Args:
        then_raise: raise a KeyboardInterrupt that arrived meanwhile once the block is done (False: drop it,
            when what it would have stopped has finished anyway).
    """
    if not _on_main_thread():  # signals reach the main thread only: elsewhere there is nothing to hold
        yield
        return
    outermost = _state.depth == 0
    if outermost:
        _state.pending = False
    _state.depth += 1  # from here an interrupt through deliver() waits; the default handler is replaced next
    allowing, _state.allowing = _state.allowing, False
    failed = False
    try:
        _install()
        yield
    except BaseException:
        failed = True
        raise
    finally:
        _state.depth -= 1
        _state.allowing = allowing
        raise_now = not failed and _state.pending and may_raise()
        if raise_now or outermost:
            _state.pending = False
        if raise_now and then_raise:
            raise KeyboardInterrupt


def _install() -> None:
    """Let SIGINT go through :func:`deliver` (left in place: outside a held block it raises as Python's own does;
    prompt_toolkit puts Python's back after each prompt, so it is installed again each time)."""
    if signal.getsignal(signal.SIGINT) is not _on_sigint:
        signal.signal(signal.SIGINT, _on_sigint)


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def allowed() -> Iterator[None]:
    """Ctrl-C stops the block at once, even inside a held one (and one that arrived before it, at its start)."""
    if _state.depth == 0 or not _on_main_thread():
        yield
        return
    allowing, _state.allowing = _state.allowing, True
    try:
        if _state.pending:
            _state.pending = False
            raise KeyboardInterrupt
        yield
    finally:
        _state.allowing = allowing
