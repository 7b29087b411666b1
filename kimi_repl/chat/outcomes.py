"""What the chat core reports: typed outcomes, failures and refusals, as data.

The core decides and tells an observer what happened; the narrator (:mod:`kimi_repl.narrator`) is the only
place these become sentences, worded for a prompt or for a one-shot run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from kimi_repl.client import ChatError
from kimi_repl.conversation import Turn
from kimi_repl.errors import UserError
from kimi_repl.planner import Oversize
from kimi_repl.profile import ModelProfile

# -- why a reply did not arrive ----------------------------------------------------------------------


class ServerFailed(NamedTuple):
    """The request failed (``error`` says how) before any answer; ``with_tools``: the model could search."""

    error: ChatError
    with_tools: bool = False


class UnknownModel(NamedTuple):
    """The server does not serve ``model`` (``error`` is its answer); ``nearest``: the listed models closest
    to it (None: the server cannot say)."""

    error: ChatError
    model: str
    nearest: list[str] | None = None


class InterruptedEarly(NamedTuple):
    """Ctrl-C before the reply began."""


class KeptCalling(NamedTuple):
    """The model kept calling tools (``calls`` of them) without answering."""

    model: str
    calls: int


class ThoughtAway(NamedTuple):
    """The model spent the whole reply budget thinking, before any answer."""

    model: str
    budget: int


class NoAnswer(NamedTuple):
    """The reply ended before any answer arrived."""


class DoesNotFit(NamedTuple):
    """Even alone, ``oversize`` does not fit ``model``'s ``window``; ``sent``: the server was asked (and refused)."""

    model: str
    window: int
    oversize: Oversize
    sent: bool = True


Why = ServerFailed | UnknownModel | InterruptedEarly | KeptCalling | ThoughtAway | NoAnswer | DoesNotFit


# -- refusals: a verb the core will not do --------------------------------------------------------


class NoPictures(NamedTuple):
    """``model`` takes no pictures; ``able`` is the closest that does (or None). ``sending``: refused at send."""

    model: str
    able: str | None
    sending: bool = False


class PicturesTooBig(NamedTuple):
    """``name`` would make one message's pictures more than ``limit`` bytes."""

    name: str
    limit: int


class SameDocument(NamedTuple):
    """``name`` is attached already, unchanged."""

    name: str


class DocumentTooBig(NamedTuple):
    """``name`` (``tokens``) does not fit ``model``'s ``window``."""

    name: str
    tokens: int
    model: str
    window: int


Refusal = NoPictures | PicturesTooBig | SameDocument | DocumentTooBig


class Refused(UserError):
    """The core will not do what was asked; ``refusal`` says why (the narrator words it)."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal)
        self.refusal = refusal


# -- what happened ------------------------------------------------------------------------------------


class MessageReturned(NamedTuple):
    """A message got no reply: it goes back to the user (at a prompt, ↑ brings it). Also told when another
    conversation becomes current, with its unanswered message ("" when there is none)."""

    text: str


class SendRefused(NamedTuple):
    """A message was not sent at all (``why``); it went back to the user."""

    why: NoPictures | Why


class SendFailed(NamedTuple):
    """A message got no reply (``why``); it went back to the user."""

    why: Why


class RetryFailed(NamedTuple):
    """A retry brought no reply; the previous one is kept."""

    why: Why


class RetryKept(NamedTuple):
    """The new reply did not finish (``interrupted``, or cut): the previous reply, which did, is kept."""

    interrupted: bool


class ContinueFailed(NamedTuple):
    """A continuation brought nothing; the reply is kept as it was."""

    why: Why


class NothingToRetry(NamedTuple):
    """There is no reply to retry."""


class NothingToContinue(NamedTuple):
    """There is no reply to continue (``complete``: the last one is complete)."""

    complete: bool = False


class Trimmed(NamedTuple):
    """The ``start`` oldest turns are not sent to ``model`` (``window``); ``refused``: after the server refused."""

    model: str
    window: int
    start: int
    refused: bool = False


class SentAgain(NamedTuple):
    """``turns`` older turns left out before are sent again to ``model``."""

    model: str
    turns: int


class StillTooBig(NamedTuple):
    """Even trimmed, the request is about ``tokens`` of ``model``'s ``window``."""

    model: str
    tokens: int
    window: int


class PicturesNamed(NamedTuple):
    """``model`` takes no pictures: the ``pictures`` of the conversation (how many) go as their names."""

    model: str
    pictures: int
    attached: bool = False
    """Pictures attached for the next message (they cannot go at all), rather than those sent before."""
    so_far: bool = False
    """Said when switching (/model), not when sending."""


class WindowLeavesOut(NamedTuple):
    """``model``'s ``window`` does not hold the conversation: the ``turns`` oldest turns are left out."""

    model: str
    window: int
    turns: int


class Calling(NamedTuple):
    """The model called ``tool`` (for a web search: ``about`` is the query, ``tokens`` the results' size)."""

    tool: str
    about: str = ""
    tokens: int = 0


class ThinkingOffForTools(NamedTuple):
    """The server refused ``model`` thinking while it may call tools: such requests go without thinking."""

    model: str
    error: ChatError


class ReplyEnded(NamedTuple):
    """A reply arrived (whole or not): ``turn``, from ``profile``'s model, ``budget`` of the user's ``cap``.

    Attributes:
        failure: the stream failed after some answer arrived.
        drawing_cut: Ctrl-C stopped the drawing (the reply is kept whole).
    """

    turn: Turn
    profile: ModelProfile
    budget: int
    cap: int
    failure: ChatError | None = None
    drawing_cut: bool = False


class AutosaveFailed(NamedTuple):
    """The session file could not be written (``error``); the chat goes on."""

    error: UserError


class AutosaveRecovered(NamedTuple):
    """The session file is written again (``path``), with everything."""

    path: str


class SessionForked(NamedTuple):
    """The session ``source`` was in use (``why``): it goes on as the new session ``session``."""

    source: str
    session: str
    why: str


class LeftBehind(NamedTuple):
    """Another conversation became current: what was attached for the last one's next message stays with it
    (``pictures`` dropped, ``outputs``: shell commands' output it keeps)."""

    pictures: int
    outputs: int


class StoreNote(NamedTuple):
    """Something the session store said while reading a session (already a sentence)."""

    text: str


Outcome = (
    MessageReturned
    | LeftBehind
    | SendRefused
    | SendFailed
    | RetryFailed
    | RetryKept
    | ContinueFailed
    | NothingToRetry
    | NothingToContinue
    | Trimmed
    | SentAgain
    | StillTooBig
    | PicturesNamed
    | WindowLeavesOut
    | Calling
    | ThinkingOffForTools
    | ReplyEnded
    | AutosaveFailed
    | AutosaveRecovered
    | SessionForked
    | StoreNote
)

Observer = Callable[[Outcome], None]
"""Told every outcome, as it happens."""
