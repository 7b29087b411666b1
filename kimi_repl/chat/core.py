"""The chat core: the conversation, what the user attached, and the verbs that change them.

Send, retry, continue, undo and switch conversations; choose the settings in force. The core decides and
reports what happened as typed outcomes (:mod:`kimi_repl.chat.outcomes`) to its observers; it never words
anything, and never touches the terminal beyond the live view of a streaming reply (a :class:`Screen`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kimi_repl.catalog import Catalog, DefaultChosen
from kimi_repl.chat.attached import Attached
from kimi_repl.chat.autosave import Autosave
from kimi_repl.chat.outcomes import (
    ContinueFailed,
    DoesNotFit,
    LeftBehind,
    MessageReturned,
    NoPictures,
    NothingToContinue,
    NothingToRetry,
    Observer,
    Outcome,
    PicturesNamed,
    RetryFailed,
    RetryKept,
    SendFailed,
    SendRefused,
    SessionForked,
    WindowLeavesOut,
)
from kimi_repl.chat.replier import Replier, ReplyFailed, Screen, joined
from kimi_repl.chat.roles import Roles
from kimi_repl.chat.sender import Sender
from kimi_repl.chat.tools import Tool, WebSearch
from kimi_repl.client import MoonshotClient
from kimi_repl.config import Role, Settings
from kimi_repl.conversation import Conversation, InForce, Turn
from kimi_repl.identity import Origin, new_session_id
from kimi_repl.interrupts import allowed, held
from kimi_repl.planner import Plan
from kimi_repl.prices import PriceBook
from kimi_repl.profile import DEFAULT_MODEL, ModelProfile
from kimi_repl.sessions import SessionLog, SessionStore


def message_text(raw: str) -> str:
    """What is sent for typed or piped text: surrounding blank lines and trailing spaces go, the first
    line's indentation stays (a pasted block of code starts with it)."""
    return raw.strip("\r\n").rstrip()


class Chat:
    """One chat: its conversation (saved as it changes), what the user attached (:attr:`attached`: pictures
    for the next message, documents), and the verbs.

    Args:
        screen: where replies stream live (the shell's display).
        tools: offered when web search is on (Moonshot's ``$web_search`` by default).

    Attributes:
        observers: told every outcome, in order (the narrator, the REPL's state).
        attachments: pictures to send with the next message.
        sent_from: the first turn the last request sent (turns before it were left out to fit, or compacted).
    """

    def __init__(
        self,
        settings: Settings,
        screen: Screen,
        client: MoonshotClient | None = None,
        *,
        store: SessionStore | None = None,
        tools: Sequence[Tool] | None = None,
    ) -> None:
        self.settings = settings
        self.client = client or MoonshotClient(settings)
        self.observers: list[Observer] = []
        prices = PriceBook(settings.base_url, settings.prices)
        self.catalog = Catalog(self.client, from_server=settings.model is None, prices=prices)
        model = settings.model or DEFAULT_MODEL
        in_force = InForce(model, settings.temperature, settings.system, settings.thinking, settings.web)
        self.conversation = Conversation(in_force=in_force)
        self.autosave = Autosave(store, self.tell)
        self.autosave.start(self.conversation)
        offered = [WebSearch()] if tools is None else tools
        cap = settings.max_tokens
        replier = Replier(self.client, screen, tools=offered, tell=self.tell, cap=cap, nearest=self.catalog.nearest)
        self.sender = Sender(self.client, self.catalog, replier, self.tell, cap)
        self.attached = Attached(self.client, self.catalog, self.autosave)
        self.attachments = self.attached.pictures
        self.roles = Roles(settings.roles.get(settings.role) if settings.role else None)

    def tell(self, outcome: Outcome) -> None:
        for observer in self.observers:
            observer(outcome)

    @property
    def model(self) -> str:
        return self.conversation.model

    @property
    def store(self) -> SessionStore | None:
        return self.autosave.store

    @property
    def log(self) -> SessionLog | None:
        """The current session's file, or None."""
        return self.autosave.log

    @property
    def sent_from(self) -> int:
        """The first turn the last request sent (turns before it were left out to fit, or compacted away)."""
        return self.sender.sent_from

    def profile(self, model: str | None = None, *, fetch: bool = True) -> ModelProfile:
        """What ``model`` (the current one by default) accepts."""
        return self.catalog.profile(model or self.conversation.model, fetch=fetch)

    def resolve_model(self) -> DefaultChosen | None:
        """Choose the default model from the server's list, if no model was configured."""
        return self.catalog.resolve_default(lambda: self.conversation.model, self._chosen_by_server)

    def _chosen_by_server(self, model: str) -> None:
        self.conversation.model = model

    # -- the settings in force ------------------------------------------------------------------------
    def choose(self, **changes: Any) -> None:
        """Send with these settings from the next message on (by :class:`InForce` field name: model,
        temperature, system, thinking for models that can switch, web for the tools). A model chosen here wins
        over the server's default, even one being chosen at this moment."""
        conversation = self.conversation
        if "system" in changes:
            changes["system"] = changes["system"] or None  # an empty system prompt is none
        with self.catalog.choosing() if "model" in changes else contextlib.nullcontext():
            conversation.in_force = conversation.in_force.but(**changes)
        self.autosave.record(lambda log: log.settings())

    def restore(self, in_force: InForce) -> None:
        """Put back settings in force from before (and record it, if anything changed)."""
        if in_force != self.conversation.in_force:
            self.conversation.in_force = in_force
            self.autosave.record(lambda log: log.settings())

    def apply_role(self, role: Role) -> None:
        """Take ``role``'s model, temperature, system prompt and thinking (what it sets); /role clear undoes it."""
        self.choose(**self.roles.take(role, self.conversation.in_force))

    def clear_role(self) -> Role | None:
        """Leave the role: the settings go back to what they were before it; return the role left (or None)."""
        left, back = self.roles.leave(self.conversation.in_force)
        if back is not None:
            self.restore(back)
        return left

    @property
    def role(self) -> Role | None:
        """The role in force, if one was taken."""
        return self.roles.role

    # -- what is sent of the conversation ----------------------------------------------------------------
    def compact(self, start: int) -> None:
        """Stop sending the turns before ``start`` (a choice the user makes, kept with the session)."""
        self.conversation.context_start = start
        self.sender.sent_from = max(self.sender.sent_from, start)
        self.autosave.record(lambda log: log.context())

    def uncompact(self) -> int:
        """Send every turn again (as far as the window allows); return how many were compacted away."""
        count, self.conversation.context_start = self.conversation.context_start, 0
        if count:
            self.autosave.record(lambda log: log.context())
        return count

    # -- which conversation -----------------------------------------------------------------------------
    def start_new(self) -> None:
        """A new, empty conversation with the same settings, saved in a new session file."""
        self.adopt(self.conversation.fresh())

    def adopt(self, conversation: Conversation, *, pending: str = "", new_id: bool = True) -> None:
        """Make ``conversation`` (new, loaded from a transcript, or a branch) the current one, saved as a new
        session (under a new id, unless ``new_id`` is false: a branch's is new already).

        Args:
            pending: a message that never got its reply: it goes back to the user (and the file keeps it).
        """
        if conversation.turns and new_id:
            conversation.id, conversation.created = new_session_id(), time.time()
        self._switch(conversation, pending)
        self.autosave.start(conversation)
        if conversation.turns:
            self.autosave.record(lambda log: log.turn(*conversation.turns))
        if pending:
            self.autosave.record(lambda log: log.withdraw(pending))

    def resume(self, path: Path) -> str:
        """Take up the saved session in ``path`` and append to it from now on; return its unanswered message.

        If another kimi-repl has it open (or it is to be left as it is), it is forked: its turns go on in a new
        session (:class:`SessionForked` is told).

        Raises:
            TranscriptError: it cannot be read.
        """
        resumed = self.autosave.take_up(path)
        if resumed.log is None:
            source = resumed.conversation.id
            resumed.conversation.origin = Origin(source, len(resumed.conversation.turns), "fork")
            self.adopt(resumed.conversation, pending=resumed.pending)
            self.tell(SessionForked(source, self.conversation.id, resumed.why))
            return resumed.pending
        self._switch(resumed.conversation, resumed.pending)
        self.autosave.continue_in(resumed.log)
        if resumed.pending:  # it goes back to the user: the file says so too, so the two never differ
            self.autosave.record(lambda log: log.withdraw(resumed.pending))
        return resumed.pending

    def _switch(self, conversation: Conversation, pending: str) -> None:
        kept = {id(output) for output in conversation.outputs}  # a branch takes some along
        pictures, outputs = len(self.attachments), sum(id(o) not in kept for o in self.conversation.outputs)
        self.attachments.clear()  # attached for the other conversation: never sent into this one unseen
        if pictures or outputs:
            self.tell(LeftBehind(pictures, outputs))
        with self.catalog.choosing():  # a conversation from a file names its model
            self.conversation = conversation
        self.sender.switched(conversation)
        self.tell(MessageReturned(pending))  # what waits for the user now ("" after a switch: nothing)

    def flush(self) -> str | None:
        """Save whatever an earlier failure left unsaved; return why it still cannot be saved, or None."""
        return self.autosave.flush()

    def close(self) -> None:
        """The chat ends: the session file's lock goes (an empty session's file too)."""
        self.autosave.close()

    # -- the verbs ----------------------------------------------------------------------------------------
    def send(self, text: str) -> Turn | None:
        """Send ``text`` as the next user turn, stream the reply, and record both.

        The oldest turns are not sent if the conversation would not fit the model's window. Ctrl-C stops the
        stream and keeps the partial reply, marked interrupted. If no answer arrived, the user turn is
        withdrawn (the conversation keeps alternating) and its text goes back to the user.

        Returns:
            The assistant turn, or None when no reply was recorded.
        """
        with held(then_raise=False):  # a Ctrl-C after the reply has arrived has nothing left to stop
            try:
                with allowed():  # these may ask the server; Ctrl-C gives the message back
                    self.resolve_model()
                    refusal = self._refusal(text)
            except KeyboardInterrupt:
                self.tell(MessageReturned(text))
                raise
            if refusal is not None:
                self.tell(MessageReturned(text))
                self.tell(SendRefused(refusal))
                return None
            conversation = self.conversation
            try:
                user = conversation.add_user(text, self.attachments)
                self.autosave.record(lambda log: log.turn(user))
                reply = self.sender.reply(conversation, conversation.model, conversation.turns)
            except ReplyFailed as failure:
                self._withdraw(text)
                self.tell(SendFailed(failure.why))
                return None
            except BaseException:  # Ctrl-C before the stream began, or a bug: the message goes back
                self._withdraw(text)
                raise
            conversation.add_reply(reply)
            self.autosave.record(lambda log: log.turn(reply))
            self.attachments.clear()  # sent: the next message goes without them
        return reply

    def _refusal(self, text: str) -> NoPictures | DoesNotFit | None:
        """Why ``text`` cannot be sent as it is (pictures to a model that takes none, too long alone), or None."""
        refusal = self.attached.refusal(self.conversation.model, sending=True) if self.attachments else None
        return refusal or self.sender.too_long_alone(self.conversation, text, self.attachments)

    def plan(self, profile: ModelProfile, *, target: int | None = None, ask: bool = True) -> Plan:
        """What a request of the whole conversation to ``profile``'s model would carry (see :meth:`Sender.plan`)."""
        return self.sender.plan(self.conversation, profile, target=target, ask=ask)

    def unseen_by(self, model: str) -> list[PicturesNamed | WindowLeavesOut]:
        """What ``model`` will not see of this conversation (for /model NAME)."""
        return self.sender.unseen_by(self.conversation, model, self.attachments)

    def _withdraw(self, text: str) -> None:
        """Take the unanswered message back out of the conversation (and the file), to the user."""
        conversation = self.conversation
        if conversation.turns and conversation.turns[-1].role == "user":
            conversation.withdraw_user()
            self.autosave.record(lambda log: log.withdraw(text))
        self.tell(MessageReturned(text))

    def retry(self, model: str | None = None) -> Turn | None:
        """Generate the last reply again (with ``model`` if given), replacing it once the new one arrived.

        A new reply that did not finish (interrupted, cut, incomplete) does not replace one that did.
        """
        conversation = self.conversation
        if not conversation.turns or conversation.turns[-1].role != "assistant":
            self.tell(NothingToRetry())
            return None
        previous = conversation.turns[-1]
        with held(then_raise=False):
            try:
                reply = self.sender.reply(conversation, model or conversation.model, conversation.turns[:-1])
            except ReplyFailed as failure:
                self.tell(RetryFailed(failure.why))
                return None
            if reply.unfinished and not previous.unfinished:
                self.tell(RetryKept(reply.interrupted))
                return None
            self._replace_reply(reply)
        return reply

    def continue_reply(self) -> Turn | None:
        """Ask the model to go on with the last reply, which stopped early (Moonshot's partial mode); the
        continuation joins it as one turn: saved, undone and exported as one.

        Returns:
            The joined reply, or None when there was nothing to continue or no continuation arrived.
        """
        conversation = self.conversation
        previous = conversation.last_reply
        if previous is None or conversation.turns[-1] is not previous or not previous.unfinished:
            self.tell(NothingToContinue(complete=previous is not None and conversation.turns[-1] is previous))
            return None
        with held(then_raise=False):
            try:
                more = self.sender.reply(conversation, conversation.model, conversation.turns, partial=True)
            except ReplyFailed as failure:
                self.tell(ContinueFailed(failure.why))
                return None
            whole = joined(previous, more)
            self._replace_reply(whole)
        return whole

    def _replace_reply(self, turn: Turn) -> None:
        """Put ``turn`` in place of the last reply: one line in the file (a reply after a reply replaces it), so
        a crash leaves the old reply or the new one, never neither."""
        self.conversation.replace_reply(turn)
        self.autosave.record(lambda log: log.turn(turn))

    def undo(self) -> list[Turn]:
        """Remove the last exchange; return the turns removed."""
        removed = self.conversation.undo()
        self.autosave.record(lambda log: log.undo(len(removed)))
        return removed
