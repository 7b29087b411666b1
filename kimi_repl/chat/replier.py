"""The replier: from a planned request to a reply, as a :class:`Turn`.

A reply is usually one round: a request and its stream, shown live in a view the shell provides. A model
may instead stop to call tools (:mod:`kimi_repl.chat.tools`): each call is answered and the request sent again,
until a round answers. If the server refuses thinking while tools are offered, such requests go on without
it. What to do with the reply (record it, retry, give up) is the caller's: nothing here changes the
conversation, and nothing here is worded (outcomes go to an observer).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kimi_repl.chat.outcomes import (
    InterruptedEarly,
    KeptCalling,
    NoAnswer,
    Observer,
    ReplyEnded,
    ServerFailed,
    ThinkingOffForTools,
    ThoughtAway,
    UnknownModel,
    Why,
)
from kimi_repl.chat.tools import Pieces, Tool, ToolCall, WebSearch
from kimi_repl.client import (
    ChatError,
    ContentDelta,
    ContextTooLong,
    Finished,
    ModelNotFound,
    ReasoningDelta,
    StreamEvent,
    ToolCallDelta,
)
from kimi_repl.client.ratelimit import Pause, RateLimitWait
from kimi_repl.conversation import InForce, Turn, Usage
from kimi_repl.interrupts import allowed
from kimi_repl.planner import REPLY_FLOOR, local_estimate
from kimi_repl.profile import ModelProfile, Thinking
from kimi_repl.request import ChatRequest

MAX_TOOL_ROUNDS = 5
"""Tool rounds one reply may run before kimi-repl stops asking (a web search is billed each time)."""

MAX_TOOL_CALLS = 16
"""Tool calls one round may ask for: each is answered in the next request, so more is a broken server."""

CAUGHT_UP_SECONDS = 0.001
"""A read that waited longer than this found nothing buffered: the reader had caught up with the stream."""

GATHER_SECONDS = 1 / 10
"""The longest the reader lets the stream gather (a frame at the fastest rate the terminal view draws, even when
frames come less often): the end of a reply is never held back by more than this."""

GATHER_BELOW_EVENTS_PER_SECOND = 1000
"""Gathering pays while the stream is slow, when a wake-up costs about as much as the few events it brings (a
model writing tokens one by one); a faster stream is read as it comes, so that its end shows at once."""


class ReplyFailed(Exception):
    """No reply arrived; ``why`` says why (as data).

    Attributes:
        too_long: the server refused the request as too long for the window (``window`` if it said).
    """

    def __init__(self, why: Why, *, too_long: bool = False, window: int | None = None) -> None:
        super().__init__(why)
        self.why = why
        self.too_long = too_long
        self.window = window


class StreamView(Protocol):
    """Where one streamed reply is shown (the shell's)."""

    def reasoning(self, text: str) -> None: ...

    def content(self, text: str) -> None: ...

    def until_next_frame(self) -> float:
        """Seconds until the view draws again (0: at once)."""

    def pause(self, wait: RateLimitWait) -> None:
        """Wait out a rate limit before the request is sent again (a terminal shows a countdown)."""

    def close(self) -> None: ...

    def abandon(self) -> None: ...


class Screen(Protocol):
    """What the shell provides for live replies."""

    def reply(self, *, model: str = ..., resume: str = ...) -> StreamView:
        """A view for the next streamed round (``resume``: the reply it continues)."""

    @property
    def gone(self) -> bool:
        """Nobody reads the output any more (a hang-up, a closed pipe)."""


class Streamer(Protocol):
    """What the replier needs of the client."""

    def stream_chat(self, request: ChatRequest, *, pause: Pause = ...) -> Iterator[StreamEvent]: ...


@dataclass
class Round:
    """What one request's stream brought."""

    content: str = ""
    reasoning: str = ""
    calls: list[ToolCall] = field(default_factory=list)
    finished: Finished | None = None
    failure: ChatError | None = None
    interrupted: bool = False
    drawing_cut: bool = False
    """Ctrl-C stopped the drawing of what had arrived (what arrived is kept all the same)."""

    @property
    def reason(self) -> str | None:
        return self.finished.reason if self.finished else None

    @property
    def calling(self) -> bool:
        """The model asked for tool calls instead of answering (and nothing went wrong)."""
        return self.reason == "tool_calls" and bool(self.calls) and self.failure is None and not self.interrupted


def stream_round(events: Callable[[], Any], view: StreamView, *, gone: Callable[[], bool]) -> Round:
    """Stream one request into ``view``.

    Args:
        events: starts the request and gives its stream of :data:`StreamEvent`.
        gone: whether nobody reads the output any more (a hang-up, a closed pipe): the round stops.
    """
    result = Round()
    content, reasoning = Pieces(), Pieces()
    calls: dict[int, ToolCall] = {}
    stream = events()
    caught_up_at: float | None = None  # when the reader last caught up with the stream (after the first words)
    events_since = 0
    try:
        with allowed():
            while True:
                asked = time.monotonic()
                event = next(stream, None)
                if event is None:
                    break
                arrived = time.monotonic()
                events_since += 1
                _take(event, view, content, reasoning, calls, result)
                if gone():
                    result.interrupted = True
                    break
                if arrived - asked > CAUGHT_UP_SECONDS:
                    # The reader caught up with the stream. If the stream is slow, let what comes gather until
                    # the next frame (or for GATHER_SECONDS), and read it in one go then: nothing is shown later
                    # than it would be, and a model costs a wake-up or two a frame instead of one a token.
                    slow = caught_up_at is not None and events_since < GATHER_BELOW_EVENTS_PER_SECOND * (
                        arrived - caught_up_at
                    )
                    caught_up_at, events_since = arrived, 0
                    pause = min(view.until_next_frame(), GATHER_SECONDS) if slow else 0.0
                    if pause > 0:
                        time.sleep(pause)
    except KeyboardInterrupt:
        result.interrupted = True
    except ChatError as error:
        result.failure = error
    finally:
        stream.close()
        try:
            with allowed():  # Ctrl-C may cut the drawing of a long reply short; the reply is kept whole
                view.close()  # never raises otherwise: a terminal that went away only sets display.gone
        except KeyboardInterrupt:
            view.abandon()
            result.drawing_cut = not result.interrupted  # a second Ctrl-C after the first changes nothing
    result.content, result.reasoning = content.value(), reasoning.value()
    result.calls = [calls[index] for index in sorted(calls)]
    return result


def _take(
    event: StreamEvent,
    view: StreamView,
    content: Pieces,
    reasoning: Pieces,
    calls: dict[int, ToolCall],
    result: Round,
) -> None:
    if isinstance(event, ContentDelta):
        content.add(event.text)
        view.content(event.text)
    elif isinstance(event, ReasoningDelta):
        reasoning.add(event.text)
        view.reasoning(event.text)
    elif isinstance(event, ToolCallDelta):
        if event.position not in calls and len(calls) >= MAX_TOOL_CALLS:
            raise ChatError(f"The server asked for more than {MAX_TOOL_CALLS} tool calls in one reply.")
        calls.setdefault(event.position, ToolCall()).add(event)
    else:
        result.finished = event


def after_calls(request: ChatRequest, called: Round, answers: list[dict[str, Any]]) -> ChatRequest:
    """The request that goes on after a round that called tools, ``answers`` being their ``tool`` messages.

    The assistant message that called (with its reasoning, which thinking models require next to tool calls)
    and the answers are added; the budget shrinks by what the results will take.
    """
    asked: dict[str, Any] = {
        "role": "assistant",
        "content": called.content,
        "tool_calls": [call.request_part() for call in called.calls],
    }
    if called.reasoning:
        asked["reasoning_content"] = called.reasoning
    messages = [*request.messages, asked, *answers]
    # What the next request adds: the results, and the call and its answer (the arguments twice), counted as text.
    written = called.content + called.reasoning + "".join(call.arguments * 2 + call.id for call in called.calls)
    added = sum(call.result_tokens for call in called.calls) + local_estimate([{"content": written}, *answers])
    budget = max(min(REPLY_FLOOR, request.budget), request.budget - added)
    return request._replace(messages=messages, budget=budget)


class Replier:
    """Gets replies for one session.

    Args:
        screen: where replies stream live.
        tools: the tools offered when the model may use them (``$web_search`` first).
        tell: told what happens (tool calls, thinking switched off, how the reply ended).
        cap: the user's largest reply budget.
        nearest: the listed models closest to a name (for a model the server does not serve).

    Attributes:
        thinking_off_with_tools: the server refused thinking while tools were offered: requests that offer
            tools go without thinking from now on.
    """

    def __init__(
        self,
        client: Streamer,
        screen: Screen,
        *,
        tools: Sequence[Tool],
        tell: Observer,
        cap: int,
        nearest: Callable[[str], list[str] | None] = lambda model: None,
    ) -> None:
        self.client = client
        self.nearest = nearest
        self.screen = screen
        self.tools = list(tools)
        self.tell = tell
        self.cap = cap
        self.thinking_off_with_tools = False

    def declarations(self) -> list[Any]:
        """The tools as a request offers them."""
        return [tool.declaration() for tool in self.tools]

    def _tool(self, call: ToolCall) -> Tool:
        """The tool ``call`` names; a call to one not offered is answered as Moonshot's builtins are."""
        return next((tool for tool in self.tools if tool.name == call.name), WebSearch())

    def reply(self, request: ChatRequest, profile: ModelProfile, in_force: InForce) -> Turn:
        """Stream the reply to ``request`` (to ``profile``'s model, sent with ``in_force``) and return it as a
        turn, not yet added to anything.

        Raises:
            ReplyFailed: nothing of an answer arrived (an error, or Ctrl-C before the first words).
        """
        started = time.time()
        rounds: list[Round] = []
        while True:
            view = self.screen.reply(model=request.model, resume=request.prefix)
            events = functools.partial(self.client.stream_chat, request, pause=view.pause)
            current = stream_round(events, view, gone=lambda: self.screen.gone)
            if self._thinking_refused(request, current, profile):
                request = request._replace(thinking={"type": "disabled"})
                continue
            rounds.append(current)
            if not current.calling or len(rounds) > MAX_TOOL_ROUNDS:
                break
            tools = [self._tool(call) for call in current.calls]
            for tool, call in zip(tools, current.calls, strict=True):
                self.tell(tool.running(call))
            answers = [tool.answer(call) for tool, call in zip(tools, current.calls, strict=True)]
            request = after_calls(request, current, answers)
            _check_room(request, current, profile)
        return self._turn(request, rounds, profile, in_force, started)

    def _thinking_refused(self, request: ChatRequest, current: Round, profile: ModelProfile) -> bool:
        """Whether the server refused a request offering tools with thinking on, and thinking can go off for
        such requests: then it does, for the rest of the session, and that is told once."""
        failure = current.failure
        if failure is None or failure.status != 400 or isinstance(failure, ContextTooLong) or current.content:
            return False
        if not (request.tools and request.thinks) or profile.thinking is not Thinking.SWITCHABLE:
            return False
        self.thinking_off_with_tools = True
        self.tell(ThinkingOffForTools(request.model, failure))
        return True

    def _turn(
        self, request: ChatRequest, rounds: list[Round], profile: ModelProfile, in_force: InForce, started: float
    ) -> Turn:
        """The reply that ``rounds`` make (and how it ended, told).

        Raises:
            ReplyFailed: no answer arrived.
        """
        model = request.model
        last = rounds[-1]
        answer = "".join(r.content for r in rounds)
        reasoning = "\n\n".join(r.reasoning for r in rounds if r.reasoning)
        kept = [self._tool(call).record(call) for r in rounds if r.calling for call in r.calls]
        searches = [record for record in kept if record is not None]
        failure, interrupted, reason = last.failure, last.interrupted, last.reason
        if not answer:
            calls = sum(len(r.calls) for r in rounds if r.calling)
            failed = _failed(request, last, calls=calls)
            if isinstance(failed.why, UnknownModel):
                failed.why = UnknownModel(failed.why.error, failed.why.model, self.nearest(failed.why.model))
            raise failed
        usages = [Usage.from_record(r.finished.usage if r.finished else None) for r in rounds]
        spent = [usage for usage in usages if usage is not None]
        stamped = in_force.but(model=model)
        if request.thinking is not None:
            stamped = stamped.but(thinking=request.thinks)
        turn = Turn.under(
            stamped,
            "assistant",
            answer,
            reasoning_content=reasoning,
            finish_reason=reason,
            interrupted=interrupted,
            incomplete=not interrupted and reason is None,
            usage=usages[-1],  # only the counts are read (a server's extras go)
            spent=sum(spent, Usage()) if len(spent) > 1 else None,
            searches=searches,
            created=started,
            finished=time.time(),
        )
        drawing_cut = any(r.drawing_cut for r in rounds)
        self.tell(ReplyEnded(turn, profile, request.budget, self.cap, failure, drawing_cut))
        return turn


def _check_room(request: ChatRequest, called: Round, profile: ModelProfile) -> None:
    """Refuse to send the request after a tool round when what the tools brought leaves no room for an answer
    in the window (the server would refuse it): the caller plans again with fewer old turns.

    Raises:
        ReplyFailed: as if the server had refused it as too long.
    """
    window = profile.window
    usage = Usage.from_record(called.finished.usage if called.finished else None)
    if window is None or usage is None:
        return
    # The call and its answers, and the results the server adds to them (Moonshot's search runs on its side).
    added = local_estimate(request.messages[-1 - len(called.calls) :]) + sum(c.result_tokens for c in called.calls)
    if usage.prompt + added + min(REPLY_FLOOR, request.budget) > window:
        failure = ContextTooLong(
            f"The web search results leave no room for an answer in {profile.id}'s window.", window
        )
        raise ReplyFailed(ServerFailed(failure), too_long=True, window=window)


def _failed(request: ChatRequest, last: Round, *, calls: int) -> ReplyFailed:
    """Why no answer arrived, as the failure to raise."""
    failure = last.failure
    if isinstance(failure, ContextTooLong):
        return ReplyFailed(ServerFailed(failure), too_long=True, window=failure.window)
    if isinstance(failure, ModelNotFound):
        return ReplyFailed(UnknownModel(failure, failure.model))
    if failure is not None:
        return ReplyFailed(ServerFailed(failure, with_tools=bool(request.tools)))
    if last.interrupted:
        return ReplyFailed(InterruptedEarly())
    if last.calling:
        return ReplyFailed(KeptCalling(request.model, calls))
    if last.reason == "length" and last.reasoning:
        return ReplyFailed(ThoughtAway(request.model, request.budget))
    return ReplyFailed(NoAnswer())


def joined(previous: Turn, more: Turn) -> Turn:
    """``previous`` continued by ``more``, as one reply: the later request decides how it ended."""
    spent = previous.spent or previous.usage
    added = more.usage
    total = spent + added if spent is not None and added is not None else (spent or added)
    reasoning = "\n\n".join(part for part in (previous.reasoning_content, more.reasoning_content) if part)
    writers = previous.written_by or [previous.model or "unknown model"]
    if more.model and more.model != writers[-1]:
        writers = [*writers, more.model]
    return Turn(
        role="assistant",
        content=previous.content + more.content,
        model=more.model,
        temperature=more.temperature,
        system=more.system,
        thinking=more.thinking,
        reasoning_content=reasoning,
        finish_reason=more.finish_reason,
        interrupted=more.interrupted,
        incomplete=more.incomplete,
        usage=more.usage,
        spent=total,
        created=previous.created,
        finished=more.finished,
        written_by=writers if len(writers) > 1 else [],
    )
