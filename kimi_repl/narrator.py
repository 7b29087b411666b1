"""The narrator: the one place where what happened becomes sentences for the user.

The chat core reports typed outcomes, failures and refusals (:mod:`kimi_repl.chat.outcomes`); the narrator
words them and shows them. The same outcome reads differently at a prompt (a slash-command, "↑ brings your
message back") and in a one-shot run (a flag, a shell command): :attr:`Narrator.interactive` decides.
"""

from __future__ import annotations

from typing import assert_never

from kimi_repl.catalog import DefaultChosen
from kimi_repl.chat.outcomes import (
    AutosaveFailed,
    AutosaveRecovered,
    Calling,
    ContinueFailed,
    DocumentTooBig,
    DoesNotFit,
    InterruptedEarly,
    KeptCalling,
    LeftBehind,
    MessageReturned,
    NoAnswer,
    NoPictures,
    NothingToContinue,
    NothingToRetry,
    Outcome,
    PicturesNamed,
    PicturesTooBig,
    Refusal,
    ReplyEnded,
    RetryFailed,
    RetryKept,
    SameDocument,
    SendFailed,
    SendRefused,
    SentAgain,
    ServerFailed,
    SessionForked,
    StillTooBig,
    StoreNote,
    ThinkingOffForTools,
    ThoughtAway,
    Trimmed,
    UnknownModel,
    Why,
    WindowLeavesOut,
)
from kimi_repl.conversation import InForce, Turn, Usage
from kimi_repl.display import Display
from kimi_repl.planner import Oversize, short_tokens
from kimi_repl.prices import money
from kimi_repl.profile import ModelProfile, Thinking
from kimi_repl.request import WEB_SEARCH
from kimi_repl.values import public_url


class Narrator:
    """Shows what the chat core reports, on ``display``.

    Attributes:
        interactive: a person is at a prompt (False in one-shot mode: the ways out are flags).
    """

    def __init__(self, display: Display, *, interactive: bool = True) -> None:
        self.display = display
        self.interactive = interactive
        self.told_unlisted: set[str] = set()  # models the user heard the server does not list

    def hint(self, interactive: str, shell: str) -> str:
        """The way out to name: a slash-command at the prompt, a flag or command in one-shot mode."""
        return interactive if self.interactive else shell

    def with_recall(self, message: str) -> str:
        """``message`` and, at a prompt, how to get the message back."""
        return f"{message} ↑ brings your message back." if self.interactive else message

    # -- outcomes ---------------------------------------------------------------------------------------
    def __call__(self, outcome: Outcome) -> None:
        """Show ``outcome`` (the chat core's observer)."""
        display = self.display
        match outcome:
            case MessageReturned():
                pass  # the prompt takes it back; the failure that caused it is told on its own
            case LeftBehind(pictures=pictures, outputs=outputs):
                if pictures:
                    count = f"{pictures} picture{'s' if pictures != 1 else ''}"
                    display.note(f"{count} waiting for your next message there stayed behind (/image attaches here).")
                if outputs:
                    count = f"the output of {outputs} command{'s' if outputs != 1 else ''}"
                    display.note(
                        f"{count[0].upper()}{count[1:]} stays with the conversation you left, for its next message."
                    )
            case SendRefused(why=why):
                text = self.refusal(why) if isinstance(why, NoPictures) else self.why(why)
                display.error(self.with_recall(text))
            case SendFailed(why=why):
                display.error(self.with_recall(self.why(why)))
            case RetryFailed(why=why):
                display.error(f"{self.why(why)} The previous reply is kept.")
            case RetryKept(interrupted=interrupted):
                how = "was interrupted" if interrupted else "did not finish"
                display.warning(f"⚠ The new reply {how}: the previous reply is kept (/retry tries again).")
            case ContinueFailed(why=why):
                display.error(f"{self.why(why)} The reply is kept as it was.")
            case NothingToRetry():
                display.error("There is no reply to retry yet.")
            case NothingToContinue(complete=complete):
                if complete:
                    display.info("The last reply is complete: there is nothing to continue.")
                else:
                    display.error("There is no reply to continue yet.")
            case Trimmed() | SentAgain() | StillTooBig() | PicturesNamed() | WindowLeavesOut():
                self._plan(outcome)
            case Calling(tool=tool, about=about, tokens=tokens):
                if tool == WEB_SEARCH:
                    query = f" for “{about}”" if about else ""
                    results = f" ({short_tokens(tokens)} tokens of results)" if tokens else ""
                    display.note(f"⌕ Searching the web{query}…{results}")
                else:
                    display.note(f"⚙ Calling {tool}…")
            case ThinkingOffForTools(model=model, error=error):
                display.warning(
                    f"⚠ Moonshot does not let {model} think while it searches, so thinking is off in requests "
                    f"that may search ({self.hint('/web off searches no more', 'without --web it does not search')})."
                    f" It said: {error}"
                )
            case ReplyEnded():
                self._ended(outcome)
            case AutosaveFailed(error=error):
                display.warning(
                    f"⚠ {error}. The chat goes on; it is saved as soon as writing works again"
                    + self.hint(" (or /save it elsewhere).", ".")
                )
            case AutosaveRecovered(path=path):
                display.note(f"The session is saved again ({path}).")
            case SessionForked(source=source, session=session, why=why):
                display.warning(f"⚠ Session {source} {why}: continuing in a new session, {session}, forked from it.")
            case StoreNote(text=text):
                display.warning(text)
            case _:
                assert_never(outcome)

    def _plan(self, outcome: Trimmed | SentAgain | StillTooBig | PicturesNamed | WindowLeavesOut) -> None:
        """What a request leaves out, sends again, or sends as names."""
        display = self.display
        match outcome:
            case Trimmed(model=model, window=window, start=start, refused=refused):
                why = (
                    f"{model} refused the request as too long"
                    if refused
                    else f"The conversation is too long for {model}"
                )
                larger = self.hint(
                    "/history shows which; a model with a larger window sends them again",
                    "a model with a larger window, -m NAME, takes them all",
                )
                display.warning(
                    f"⚠ {why} ({short_tokens(window)} window): the {start} oldest turns are not sent with this "
                    f"message ({larger})."
                )
            case SentAgain(model=model, turns=count):
                display.note(f"The {count} older turns left out before are sent again ({model} has room for them).")
            case StillTooBig(model=model, tokens=tokens, window=window):
                display.warning(
                    f"⚠ The request is still about {short_tokens(tokens)} tokens of {model}'s {short_tokens(window)}: "
                    "the reply may be cut short."
                )
            case PicturesNamed() | WindowLeavesOut():
                display.warning(switch_warning(outcome))

    def _ended(self, ended: ReplyEnded) -> None:
        """How a reply ended, when that calls for a word; then its usage line."""
        display, turn = self.display, ended.turn
        go_on = self.hint("/continue asks the model to go on", "kimi-repl -c, then /continue, goes on")
        if ended.drawing_cut and not display.gone:
            kept = self.hint("/copy copies it, /save writes it", "kimi-repl -c has it")
            display.note(f"⏹ Drawing stopped: the whole reply is kept ({kept}).")
        if display.gone:
            pass  # nobody is there to tell: the reply is saved, marked interrupted
        elif turn.interrupted:
            display.warning(f"⏹ Interrupted: the partial reply is kept, marked as interrupted ({go_on}).")
        elif ended.failure is not None:
            display.error(f"{ended.failure} The partial reply is kept, marked incomplete ({go_on}).")
        elif turn.finish_reason is None:
            display.warning(
                "⚠ The stream ended without a finish reason (connection cut?): "
                f"the reply is incomplete and kept, marked as such ({go_on})."
            )
        elif turn.finish_reason == "length":
            raise_it = self.hint("kimi-repl --max-tokens N raises it", "--max-tokens N raises it")
            display.warning(f"⚠ {_why_cut(ended, raise_it)}: {go_on}.")
        elif turn.finish_reason == "content_filter":
            display.warning("⚠ Moonshot's content filter stopped the reply.")
        line = reply_usage(turn, ended.profile)
        if line:
            display.usage(line)

    # -- failures and refusals -----------------------------------------------------------------------
    def why(self, why: Why) -> str:
        """Why no reply arrived, in one line."""
        match why:
            case ServerFailed(error=error, with_tools=with_tools):
                without = self.hint("/web off sends without search", "without --web it sends without search")
                return f"{error} (while searching the web: {without})" if with_tools else str(error)
            case UnknownModel(error=error, model=model, nearest=nearest):
                self.told_unlisted.add(model)  # the list is in this line: the warm-up need not repeat it
                return f"{error} {self.current_models(model, nearest)}".rstrip()
            case InterruptedEarly():
                return "Interrupted before the reply began."
            case KeptCalling(model=model, calls=calls):
                return f"{model} kept searching ({calls} searches) without answering."
            case ThoughtAway(model=model, budget=budget):
                off = self.hint("/thinking off", "--thinking off")
                return (
                    f"{model} spent the whole reply budget ({budget:,} tokens) thinking, before any "
                    f"answer: raise it with --max-tokens, or turn thinking off with {off}."
                )
            case NoAnswer():
                return "The reply ended before any answer arrived."
            case DoesNotFit(model=model, window=window, oversize=oversize, sent=sent):
                text = self.too_long_for(model, window, oversize)
                return text if sent else f"{text} Nothing was sent."
            case _:
                assert_never(why)

    def too_long_for(self, model: str, window: int, oversize: Oversize) -> str:
        """What does not fit ``model``'s window even alone, and the way out."""
        room = f"{model}'s {short_tokens(window)} window"
        larger = "a model with a larger window may take"
        clear = "/file clear removes them" if self.interactive else "leave them out"
        what, tokens = oversize.what, oversize.tokens
        if what == "documents":
            which = "Your documents" if oversize.documents > 1 else "Your document"
            return f"{which} ({short_tokens(tokens or 0)} tokens) do not fit {room}: {clear}, or {larger} them."
        if what == "system":
            system = short_tokens(tokens or 0)
            return f"The system prompt ({system} tokens) does not fit {room}: shorten it, or {larger} it."
        size = f"about {short_tokens(tokens)} tokens" if tokens is not None else "too long"
        if what == "reply":
            return f"The reply so far is {size}: it leaves no room to go on in {room} ({larger} it)."
        return f"Your message is {size}: too long for {room} ({larger} it)."

    def refusal(self, refusal: Refusal) -> str:
        """Why the core would not do what was asked, in one line."""
        match refusal:
            case NoPictures(model=model, able=able, sending=sending):
                switch = f": /model {able} does" if able else ""
                if not sending:
                    return f"{model} takes no pictures{switch}."
                return f"{model} takes no pictures{switch} (/image clear drops them). Nothing was sent."
            case PicturesTooBig(name=name, limit=limit):
                return (
                    f"{name} would make the pictures of one message more than {limit >> 20} MB: "
                    "send these first (/image lists them)."
                )
            case SameDocument(name=name):
                return f"{name} is attached already, unchanged (/file lists what is attached)"
            case DocumentTooBig(name=name, tokens=tokens, model=model, window=window):
                return (
                    f"{name} is about {short_tokens(tokens)} tokens: too much for {model}'s "
                    f"{short_tokens(window)} window (a larger model may fit)"
                )
            case _:
                assert_never(refusal)

    # -- the models ------------------------------------------------------------------------------------
    def default_chosen(self, chosen: DefaultChosen, base_url: str) -> str:
        """The server does not offer the built-in default."""
        return f"{chosen.previous} is not offered by {public_url(base_url)}: using {chosen.chosen} instead."

    def current_models(self, near: str, nearest: list[str] | None) -> str:
        """A sentence naming the models the server lists (``nearest``: the closest to ``near`` first)."""
        if not nearest:
            return "/models lists the models you can use." if self.interactive else ""
        switch = "Switch with /model NAME." if self.interactive else "Choose one with -m NAME."
        return f"Current models: {', '.join(nearest)}. {switch}"

    def unlisted(self, model: str, nearest: list[str] | None, *, once: bool = False) -> str | None:
        """The warning that the server does not list ``model`` (None with ``once`` when it was said already)."""
        if once and model in self.told_unlisted:
            return None
        self.told_unlisted.add(model)
        return f"⚠ {model} is not a model this server lists. {self.current_models(model, nearest)}"


def switch_warning(outcome: PicturesNamed | WindowLeavesOut) -> str:
    """What a model will not see of the conversation, in one line."""
    match outcome:
        case PicturesNamed(model=model, pictures=count, attached=True):
            return f"⚠ {model} takes no pictures: those attached for your next message cannot go (/image clear)."
        case PicturesNamed(model=model, pictures=count, so_far=True):
            pictures = (
                "the picture so far goes as its name"
                if count == 1
                else f"the {count} pictures so far go as their names"
            )
            return f"⚠ {model} takes no pictures: {pictures}."
        case PicturesNamed(model=model, pictures=count):
            return (
                f"⚠ {model} takes no pictures: the {count} picture{'s' if count != 1 else ''} in this conversation "
                "go as their names (a model that takes pictures sees them again)."
            )
        case WindowLeavesOut(model=model, window=window, turns=count):
            return (
                f"⚠ {model}'s {short_tokens(window)} window does not hold the whole conversation: the {count} "
                "oldest turns are left out while you use it."
            )


def describe_model(profile: ModelProfile, in_force: InForce) -> str:
    """One line about a model: thinking, window, images."""
    parts = [profile.id, profile.thinking_label(in_force.thinking)]
    if profile.window:
        parts.append(f"{short_tokens(profile.window)} context")
    if profile.images:
        parts.append("images")
    if not profile.known:
        parts.append("unknown to kimi-repl: no sampling parameters are sent unless you choose them")
    return " · ".join(part for part in parts if part)


def describe_temperature(profile: ModelProfile, in_force: InForce) -> str:
    """The temperature in force for a model, and where it comes from."""
    chosen = in_force.temperature
    yours = f"; your choice ({chosen:g}) applies to models that take one" if chosen is not None else ""
    if profile.fixed_sampling:
        fixed = profile.fixed_temperature_now(in_force.thinking)
        uses = f"uses {fixed:g}" if fixed is not None else "sets its own"
        switchable = profile.thinking is Thinking.SWITCHABLE
        when = f" with {profile.thinking_label(in_force.thinking)}" if switchable else ""
        return f"{profile.id} {uses}{when} and refuses any other, so none is sent{yours}"
    if chosen is not None:
        return f"{chosen:g}"
    if profile.recommended_temperature is None:
        return f"none is sent: {profile.id} uses its server's default"
    return f"{profile.recommended_temperature:g} (Moonshot's recommendation for {profile.id})"


def _why_cut(ended: ReplyEnded, raise_it: str) -> str:
    """Why a reply stopped at ``length``: its budget (the user's cap, or what the window left), or the model's
    own output limit (it wrote clearly less than the budget)."""
    usage, budget, model = ended.turn.usage, ended.budget, ended.turn.model
    if usage is not None and 0 < usage.completion < budget * 0.9:
        return (
            f"{model} stopped at its own output limit after {usage.completion:,} tokens (the budget was "
            f"{budget:,}), and the reply was cut short"
        )
    why = raise_it if budget >= ended.cap else f"all that {model}'s window left"
    return f"The reply reached its budget of {budget:,} tokens ({why}) and was cut short"


def reply_usage(turn: Turn, profile: ModelProfile) -> str | None:
    """The usage line for a reply from ``profile``'s model, or None when the server reported none."""
    if turn.usage is None:
        return None
    thinking = profile.thinking_label(turn.thinking)
    price = profile.price if not turn.written_by else None  # a reply of several models: parts not known apart
    cost = money(price.cost(turn.spent or turn.usage), price.currency) if price else ""
    return usage_line(turn.usage, profile.window, thinking=thinking, searches=len(turn.searches), cost=cost)


def usage_line(usage: Usage, window: int | None, *, thinking: str = "", searches: int = 0, cost: str = "") -> str:
    """The dim line after a reply: ``↑ 1.2k prompt · ↓ 80 completion (40 reasoning) · 512 cached · thinking on
    · 1.3k / 256k context (1%) · $0.0012``.

    Args:
        thinking: the model's thinking label (``thinking on``), for models that think.
        searches: web searches the reply ran.
        cost: what the reply cost (all its requests), when the model's price is known.
    """
    completion = f"↓ {short_tokens(usage.completion)} completion"
    if usage.reasoning:
        completion += f" ({short_tokens(usage.reasoning)} reasoning)"
    parts = [f"↑ {short_tokens(usage.prompt)} prompt", completion]
    if usage.cached:
        parts.append(f"{short_tokens(usage.cached)} cached")
    if thinking:
        parts.append(thinking)
    if searches:
        parts.append(f"{searches} web search{'es' if searches != 1 else ''}")
    if window:
        share = f"{100 * usage.total / window:.0f}%"
        parts.append(f"{short_tokens(usage.total)} / {short_tokens(window)} context ({share})")
    if cost:
        parts.append(f"{cost} + search fees" if searches else cost)  # billed per call, at no price known here
    return " · ".join(parts)
