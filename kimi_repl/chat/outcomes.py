"""What the chat core reports: typed outcomes, failures and refusals, as data.

The core decides and tells an observer what happened; the narrator (:mod:`kimi_repl.narrator`) is the only
place these become sentences, worded for a prompt or for a one-shot run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kimi_repl.client import ChatError
from kimi_repl.conversation import Turn
from kimi_repl.errors import UserError
from kimi_repl.planner import Oversize
from kimi_repl.profile import ModelProfile

# -- why a reply did not arrive ----------------------------------------------------------------------


@dataclass(frozen=True)
class ServerFailed:
    """The request failed (``error`` says how) before any answer; ``with_tools``: the model could search."""

    error: ChatError
    with_tools: bool = False


@dataclass(frozen=True)
class UnknownModel:
    """The server does not serve ``model`` (``error`` is its answer); ``nearest``: the listed models closest
    to it (None: the server cannot say)."""

    error: ChatError
    model: str
    nearest: list[str] | None = None


@dataclass(frozen=True)
class InterruptedEarly:
    """Ctrl-C before the reply began."""


@dataclass(frozen=True)
class KeptCalling:
    """The model kept calling tools (``calls`` of them) without answering."""

    model: str
    calls: int


@dataclass(frozen=True)
class ThoughtAway:
    """The model spent the whole reply budget thinking, before any answer."""

    model: str
    budget: int


@dataclass(frozen=True)
class NoAnswer:
    """The reply ended before any answer arrived."""


@dataclass(frozen=True)
class DoesNotFit:
    """Even alone, ``oversize`` does not fit ``model``'s ``window``; ``sent``: the server was asked (and refused)."""

    model: str
    window: int
    oversize: Oversize
    sent: bool = True


Why = ServerFailed | UnknownModel | InterruptedEarly | KeptCalling | ThoughtAway | NoAnswer | DoesNotFit


# -- refusals: a verb the core will not do --------------------------------------------------------


@dataclass(frozen=True)
class NoPictures:
    """``model`` takes no pictures; ``able`` is the closest that does (or None). ``sending``: refused at send."""

    model: str
    able: str | None
    sending: bool = False


@dataclass(frozen=True)
class PicturesTooBig:
    """``name`` would make one message's pictures more than ``limit`` bytes."""

    name: str
    limit: int


@dataclass(frozen=True)
class SameDocument:
    """``name`` is attached already, unchanged."""

    name: str


@dataclass(frozen=True)
class DocumentTooBig:
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


@dataclass(frozen=True)
class MessageReturned:
    """A message got no reply: it goes back to the user (at a prompt, ↑ brings it). Also told when another
    conversation becomes current, with its unanswered message ("" when there is none)."""

    text: str


@dataclass(frozen=True)
class SendRefused:
    """A message was not sent at all (``why``); it went back to the user."""

    why: NoPictures | Why


@dataclass(frozen=True)
class SendFailed:
    """A message got no reply (``why``); it went back to the user."""

    why: Why


@dataclass(frozen=True)
class RetryFailed:
    """A retry brought no reply; the previous one is kept."""

    why: Why


@dataclass(frozen=True)
class RetryKept:
    """The new reply did not finish (``interrupted``, or cut): the previous reply, which did, is kept."""

    interrupted: bool


@dataclass(frozen=True)
class ContinueFailed:
    """A continuation brought nothing; the reply is kept as it was."""

    why: Why


@dataclass(frozen=True)
class NothingToRetry:
    """There is no reply to retry."""


@dataclass(frozen=True)
class NothingToContinue:
    """There is no reply to continue (``complete``: the last one is complete)."""

    complete: bool = False


@dataclass(frozen=True)
class Trimmed:
    """The ``start`` oldest turns are not sent to ``model`` (``window``); ``refused``: after the server refused."""

    model: str
    window: int
    start: int
    refused: bool = False


@dataclass(frozen=True)
class SentAgain:
    """``count`` older turns left out before are sent again to ``model``."""

    model: str
    count: int


@dataclass(frozen=True)
class StillTooBig:
    """Even trimmed, the request is about ``tokens`` of ``model``'s ``window``."""

    model: str
    tokens: int
    window: int


@dataclass(frozen=True)
class PicturesNamed:
    """``model`` takes no pictures: the ``count`` pictures of the conversation go as their names."""

    model: str
    count: int
    attached: bool = False
    """Pictures attached for the next message (they cannot go at all), rather than those sent before."""
    so_far: bool = False
    """Said when switching (/model), not when sending."""


@dataclass(frozen=True)
class WindowLeavesOut:
    """``model``'s ``window`` does not hold the conversation: ``count`` oldest turns are left out."""

    model: str
    window: int
    count: int


@dataclass(frozen=True)
class Calling:
    """The model called ``tool`` (for a web search: ``about`` is the query, ``tokens`` the results' size)."""

    tool: str
    about: str = ""
    tokens: int = 0


@dataclass(frozen=True)
class ThinkingOffForTools:
    """The server refused ``model`` thinking while it may call tools: such requests go without thinking."""

    model: str
    error: ChatError


@dataclass(frozen=True)
class ReplyEnded:
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


@dataclass(frozen=True)
class AutosaveFailed:
    """The session file could not be written (``error``); the chat goes on."""

    error: UserError


@dataclass(frozen=True)
class AutosaveRecovered:
    """The session file is written again (``path``), with everything."""

    path: str


@dataclass(frozen=True)
class SessionForked:
    """The session ``source`` was in use (``why``): it goes on as the new session ``session``."""

    source: str
    session: str
    why: str


@dataclass(frozen=True)
class StoreNote:
    """Something the session store said while reading a session (already a sentence)."""

    text: str


Outcome = (
    MessageReturned
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
