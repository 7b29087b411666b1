"""The chat session: the conversation, its autosave, and getting a reply through the stream.

This is everything the REPL does apart from reading input, so it runs the same under a terminal, a pipe
or a test.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from kimi_repl.client import ChatError, ContentDelta, ContextTooLong, Finished, MoonshotClient, ReasoningDelta
from kimi_repl.config import Settings
from kimi_repl.context import (
    Trim,
    Usage,
    document_tokens,
    human,
    local_estimate,
    reply_reserve,
    trim_to_fit,
    usage_line,
)
from kimi_repl.conversation import Conversation, Document, Turn, new_session_id
from kimi_repl.documents import DocumentError, load_document
from kimi_repl.models import KNOWN_MODELS, has_fixed_temperature, recommended_temperature
from kimi_repl.render import Display
from kimi_repl.sessions import SessionLog, SessionStore
from kimi_repl.transcript import TranscriptError


def message_text(raw: str) -> str:
    """What is sent for typed or piped text: surrounding blank lines and trailing spaces go, the first
    line's indentation stays (a pasted block of code starts with it)."""
    return raw.strip("\r\n").rstrip()


class ReplyFailed(Exception):
    """No reply arrived; ``str(error)`` says why in one line.

    Attributes:
        too_long: the server refused the request as too long for the window (``window`` if it said).
    """

    def __init__(self, message: str, *, too_long: bool = False, window: int | None = None) -> None:
        super().__init__(message)
        self.too_long = too_long
        self.window = window


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
        self.interactive = True  # False in one-shot mode: there is no prompt to put a message back at
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

        Before sending, the oldest turns stop being sent if the conversation would not fit the model's
        window. Ctrl-C stops the stream and keeps the partial reply, marked interrupted. If the request
        fails before any answer arrived, the user turn is withdrawn (the conversation keeps alternating)
        and its text waits at the next prompt.

        Returns:
            The assistant turn, or None when no reply was recorded.
        """
        conversation = self.conversation
        user = conversation.add_user(text)
        self._record(lambda log: log.turn(user))
        model = conversation.model
        self._report_trim(self.fit_context(model), model)
        try:
            reply = self._reply(conversation.messages, model)
        except ReplyFailed as failure:
            self.pending_input = conversation.withdraw_user()
            self._record(lambda log: log.withdraw())
            self.display.error(f"{failure} Your message is back at the prompt." if self.interactive else str(failure))
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
            reply = self._reply(lambda: conversation.messages()[:-1], model or conversation.model)
        except ReplyFailed as failure:
            self.display.error(f"{failure} The previous reply is kept.")
            return None
        conversation.pop_reply()
        conversation.add_reply(reply)
        self._record(lambda log: log.undo(1))
        self._record(lambda log: log.turn(reply))
        return reply

    def _reply(self, messages: Callable[[], list[dict[str, str]]], model: str) -> Turn:
        """A reply to ``messages()``; if the server finds the request too long, drop old turns and ask once more.

        Raises:
            ReplyFailed: no reply arrived.
        """
        try:
            return self._generate(messages(), model)
        except ReplyFailed as failure:
            if not failure.too_long:
                raise
            window = failure.window or self.window(model)
            if window is None:
                raise
            measured = max(local_estimate(messages()), window + 1)
            trim = trim_to_fit(self.conversation, measured=measured, window=window)
            if not trim.dropped:
                raise ReplyFailed(f"Your message alone is too long for {model} ({human(window)} tokens).") from None
            self._record(lambda log: log.context())
            self._report_trim(trim, model, refused=True)
            return self._generate(messages(), model)

    # -- the context window ------------------------------------------------------------------------
    def window(self, model: str) -> int | None:
        """``model``'s context window: as ``GET /models`` reports it, else from the built-in table."""
        reported = self.client.reported_window(model)
        if reported is not None:
            return reported
        if model in KNOWN_MODELS:
            return KNOWN_MODELS[model].context_window
        try:
            self.client.list_models(retry_failed=False)  # an unknown model: perhaps the server says
        except ChatError:
            return None
        return self.client.reported_window(model)

    def fit_context(self, model: str, *, target: int | None = None) -> Trim | None:
        """Stop sending the oldest turns if the conversation would not fit ``model``'s window with room to reply.

        Args:
            target: fit into this many tokens instead (/compact).

        Returns:
            What was done, or None when the window is unknown.
        """
        window = self.window(model)
        if window is None:
            return None
        conversation = self.conversation
        limit = target if target is not None else window - reply_reserve(window)
        messages = conversation.messages()
        quick = max(local_estimate(messages), self._tokens_by_usage())
        if quick <= limit * 0.8:  # plainly fits: no need to ask the server
            return Trim(0, quick, True, window)
        measured = self.client.estimate_tokens(messages, model=model) or quick
        if measured <= limit:
            return Trim(0, measured, True, window)
        trim = trim_to_fit(conversation, measured=measured, window=window, target=target)
        if trim.dropped:
            self._record(lambda log: log.context())
        return trim

    def _tokens_by_usage(self) -> int:
        """The request's size judged from the last reply's usage plus what was added after it (0 if unknown)."""
        turns = self.conversation.turns[self.conversation.context_start :]
        for index in range(len(turns) - 1, -1, -1):
            usage = Usage.from_record(turns[index].usage) if turns[index].role == "assistant" else None
            if usage is not None:
                return usage.total + local_estimate(t.to_message() for t in turns[index + 1 :])
        return 0

    def _report_trim(self, trim: Trim | None, model: str, *, refused: bool = False) -> None:
        if trim is None or (trim.fits and not trim.dropped):
            return
        window = trim.window
        if trim.dropped:
            why = f"{model} refused the request as too long" if refused else "The conversation no longer fits"
            self.display.warning(
                f"⚠ {why} ({human(window)} window): the {trim.dropped} oldest turns are not sent any more "
                "(/history still shows them)."
            )
        if not trim.fits:
            self.display.warning(
                f"⚠ The request is still about {human(trim.tokens)} tokens of {model}'s {human(window)}: "
                "the reply may be cut short."
            )

    def usage_line(self, turn: Turn) -> str | None:
        """The usage line for a reply, or None when the server reported none."""
        usage = Usage.from_record(turn.usage)
        if usage is None:
            return None
        return usage_line(usage, self.window(turn.model or self.conversation.model))

    # -- documents ---------------------------------------------------------------------------------
    def attach(self, path: Path) -> Document:
        """Read ``path`` (uploading it for extraction if it is not plain text) and add it to the conversation.

        Raises:
            DocumentError: the file cannot be used.
        """
        document = load_document(path, self.client)
        window = self.window(self.conversation.model)
        tokens = document_tokens(document)
        if window is not None and tokens > window - reply_reserve(window):
            raise DocumentError(
                f"{path.name} is about {human(tokens)} tokens: too much for {self.conversation.model}'s "
                f"{human(window)} window (a larger model may fit)"
            )
        self.conversation.documents.append(document)
        self._record(lambda log: log.document(document))
        return document

    def forget_documents(self) -> int:
        """Remove every document; return how many there were."""
        count = len(self.conversation.documents)
        self.conversation.documents.clear()
        if count:
            self._record(lambda log: log.documents_cleared())
        return count

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
        failure: ChatError | None = None
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
            failure = exc
        finally:
            view.close()

        answer = "".join(content)
        if not answer:
            if isinstance(failure, ContextTooLong):
                raise ReplyFailed(str(failure), too_long=True, window=failure.window)
            if failure is not None:
                raise ReplyFailed(str(failure))
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
        elif failure is not None:
            self.display.error(f"{failure} The partial reply is kept, marked incomplete.")
        elif reason is None:
            self.display.warning(
                "⚠ The stream ended without a finish reason (connection cut?): "
                "the reply is incomplete and kept, marked as such."
            )
        elif reason == "length":
            self.display.warning("⚠ The reply hit the model's token limit and was cut short.")
        elif reason == "content_filter":
            self.display.warning("⚠ Moonshot's content filter stopped the reply.")
        line = self.usage_line(turn)
        if line:
            self.display.usage(line)
        return turn
