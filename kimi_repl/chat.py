"""The chat session: the conversation, its autosave, and getting a reply through the stream.

This is everything the REPL does apart from reading input, so it runs the same under a terminal, a pipe
or a test.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from kimi_repl.client import ChatError, ContentDelta, Finished, MoonshotClient, ReasoningDelta
from kimi_repl.config import Settings
from kimi_repl.conversation import Conversation, Turn, new_session_id
from kimi_repl.models import has_fixed_temperature, recommended_temperature
from kimi_repl.render import Display
from kimi_repl.sessions import SessionLog, SessionStore
from kimi_repl.transcript import TranscriptError


class ReplyFailed(Exception):
    """No reply arrived; ``str(error)`` says why in one line."""


class ChatSession:
    """The state the REPL and the commands read and change.

    Attributes:
        conversation: the current conversation; its file is ``log`` (None when nothing is saved).
        pending_input: text to put back at the prompt (a message whose request failed).
        exit_requested: set by /exit, or when the terminal goes away.
    """

    def __init__(
        self,
        settings: Settings,
        display: Display,
        client: MoonshotClient | None = None,
        *,
        store: SessionStore | None = None,
    ) -> None:
        self.settings = settings
        self.display = display
        self.client = client or MoonshotClient(settings)
        self.store = store
        self.conversation = Conversation(model=settings.model, temperature=settings.temperature, system=settings.system)
        self.log: SessionLog | None = store.new_log(self.conversation) if store else None
        self.pending_input = ""
        self.exit_requested = False
        self._autosave_failed = False

    @property
    def model(self) -> str:
        return self.conversation.model

    # -- settings ----------------------------------------------------------------------------------
    def set_model(self, name: str) -> None:
        self.conversation.model = name
        self._record(lambda log: log.settings())

    def set_temperature(self, value: float | None) -> None:
        self.conversation.temperature = value
        self._record(lambda log: log.settings())

    def set_system(self, text: str | None) -> None:
        self.conversation.system = text or None
        self._record(lambda log: log.settings())

    def describe_temperature(self) -> str:
        """The temperature in force for the current model, and where it comes from."""
        model, chosen = self.conversation.model, self.conversation.temperature
        if has_fixed_temperature(model):
            extra = f" (you chose {chosen:g})" if chosen is not None else ""
            return f"{model} accepts only its own temperature (1), so none is sent{extra}."
        if chosen is None:
            return f"{recommended_temperature(model):g} (Moonshot's recommendation for {model})"
        return f"{chosen:g}"

    # -- which conversation ------------------------------------------------------------------------
    def start_new(self) -> None:
        """A new, empty conversation with the same settings, saved in a new session file."""
        self.adopt(self.conversation.fresh())

    def adopt(self, conversation: Conversation, *, session_file: Path | None = None, pending: str = "") -> None:
        """Make ``conversation`` the current one.

        Args:
            session_file: its session file, to append to (a resumed session); without it the conversation
                is saved as a new session, its turns written at once.
            pending: a message that never got its reply, put back at the prompt.
        """
        if session_file is None and conversation.turns:
            conversation.id, conversation.created = new_session_id(), time.time()
        self.conversation = conversation
        self.pending_input = pending
        if self.store is None:
            self.log = None
        elif session_file is not None:
            self.log = self.store.continue_log(session_file, conversation)
        else:
            self.log = self.store.new_log(conversation)
            if conversation.turns:
                self._record(lambda log: log.turn(*conversation.turns))

    def take_pending_input(self) -> str:
        """The text to pre-fill the next prompt with, once."""
        text, self.pending_input = self.pending_input, ""
        return text

    def _record(self, action: Callable[[SessionLog], None]) -> None:
        """Apply ``action`` to the session file; a failure is reported once and the chat goes on."""
        if self.log is None:
            return
        try:
            action(self.log)
        except TranscriptError as error:
            if not self._autosave_failed:
                self._autosave_failed = True
                self.display.warning(f"⚠ {error}. The chat goes on unsaved: /save it somewhere to keep it.")

    # -- turns -------------------------------------------------------------------------------------
    def send(self, text: str) -> Turn | None:
        """Send ``text`` as the next user turn, stream the reply to the display, and record both.

        Ctrl-C stops the stream and keeps the partial reply, marked interrupted. If the request fails
        before any answer arrived, the user turn is withdrawn (the conversation keeps alternating) and
        its text waits at the next prompt.

        Returns:
            The assistant turn, or None when no reply was recorded.
        """
        conversation = self.conversation
        user = conversation.add_user(text)
        self._record(lambda log: log.turn(user))
        try:
            reply = self._generate(conversation.messages(), conversation.model)
        except ReplyFailed as failure:
            self.pending_input = conversation.withdraw_user()
            self._record(lambda log: log.withdraw())
            self.display.error(f"{failure} Your message is back at the prompt.")
            return None
        conversation.add_reply(reply)
        self._record(lambda log: log.turn(reply))
        return reply

    def retry(self, model: str | None = None) -> Turn | None:
        """Generate the last reply again (with ``model`` if given), replacing it once the new one arrived."""
        conversation = self.conversation
        if not conversation.turns or conversation.turns[-1].role != "assistant":
            self.display.error("There is no reply to retry yet.")
            return None
        try:
            reply = self._generate(conversation.messages()[:-1], model or conversation.model)
        except ReplyFailed as failure:
            self.display.error(f"{failure} The previous reply is kept.")
            return None
        conversation.pop_reply()
        conversation.add_reply(reply)
        self._record(lambda log: log.undo(1))
        self._record(lambda log: log.turn(reply))
        return reply

    def undo(self) -> list[Turn]:
        """Remove the last exchange; return the turns removed."""
        removed = self.conversation.undo()
        self._record(lambda log: log.undo(len(removed)))
        return removed

    def _generate(self, messages: list[dict[str, str]], model: str) -> Turn:
        """Stream a reply to ``messages`` into the display and return it as a turn (not yet added).

        Raises:
            ReplyFailed: nothing of an answer arrived (an error, or Ctrl-C before the first words).
        """
        conversation = self.conversation
        content: list[str] = []
        reasoning: list[str] = []
        finished: Finished | None = None
        error: str | None = None
        interrupted = False
        started = time.time()
        view = self.display.reply(model=model)
        try:
            events = self.client.stream_chat(messages, model=model, temperature=conversation.temperature)
            for event in events:
                if isinstance(event, ContentDelta):
                    content.append(event.text)
                    view.content(event.text)
                elif isinstance(event, ReasoningDelta):
                    reasoning.append(event.text)
                    view.reasoning(event.text)
                else:
                    finished = event
        except KeyboardInterrupt:
            interrupted = True
        except ChatError as exc:
            error = str(exc)
        finally:
            view.close()

        answer = "".join(content)
        if not answer:
            if error:
                raise ReplyFailed(error)
            if interrupted:
                raise ReplyFailed("Interrupted before the reply began.")
            raise ReplyFailed("The reply ended before any answer arrived.")

        reason = finished.reason if finished else None
        turn = Turn(
            role="assistant",
            content=answer,
            model=model,
            temperature=conversation.temperature,
            system=conversation.system,
            reasoning_content="".join(reasoning),
            finish_reason=reason,
            interrupted=interrupted,
            incomplete=not interrupted and reason is None,
            usage=finished.usage if finished else None,
            created=started,
            finished=time.time(),
        )
        if interrupted:
            self.display.warning("⏹ Interrupted: the partial reply is kept, marked as interrupted.")
        elif error:
            self.display.error(error + " The partial reply is kept, marked incomplete.")
        elif reason is None:
            self.display.warning(
                "⚠ The stream ended without a finish reason (connection cut?): "
                "the reply is incomplete and kept, marked as such."
            )
        elif reason == "length":
            self.display.warning("⚠ The reply hit the model's token limit and was cut short.")
        elif reason == "content_filter":
            self.display.warning("⚠ Moonshot's content filter stopped the reply.")
        return turn
