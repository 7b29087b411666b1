"""The chat session: the conversation, its autosave, and getting a reply through the stream.

This is everything the REPL does apart from reading input, so it runs the same under a terminal, a pipe
or a test. It orchestrates; what a model accepts is the profile's business (``profile.py``), what is sent
the request builder's (``request.py``), and the wire the client's (``client.py``).
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kimi_repl.catalog import Catalog
from kimi_repl.client import ContextTooLong, ModelNotFound, MoonshotClient
from kimi_repl.config import Role, Settings
from kimi_repl.conversation import Conversation, Document, Image, InForce, Turn, Usage, new_session_id
from kimi_repl.display import Display
from kimi_repl.documents import DocumentError, load_document
from kimi_repl.images import ImageError, read_image
from kimi_repl.interrupts import allowed, held
from kimi_repl.narrator import usage_line
from kimi_repl.planner import (
    REPLY_FLOOR,
    Plan,
    after_refusal,
    document_tokens,
    local_estimate,
    plan,
    reply_budget,
    reply_reserve,
    short_tokens,
    tokens_by_usage,
)
from kimi_repl.profile import (
    DEFAULT_MODEL,
    ModelProfile,
    Thinking,
)
from kimi_repl.request import ChatRequest, build_request
from kimi_repl.sessions import SessionLog, SessionStore
from kimi_repl.transcript import TranscriptError
from kimi_repl.values import public_url

if TYPE_CHECKING:
    from kimi_repl.reply import Round


def message_text(raw: str) -> str:
    """What is sent for typed or piped text: surrounding blank lines and trailing spaces go, the first
    line's indentation stays (a pasted block of code starts with it)."""
    return raw.strip("\r\n").rstrip()


MAX_PICTURES_BYTES = 20 * 1024 * 1024
"""Pictures one message may carry: they go again with every later message (and are kept in its record)."""


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
        catalog: the models the server offers; when no model was configured, the default comes from it
            (until then the conversation holds the built-in default).
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
        display.secret = self.client.secret  # whatever the display shows, the key is taken out
        self.store = store
        self.conversation = Conversation(
            in_force=InForce(
                settings.model or DEFAULT_MODEL, settings.temperature, settings.system, settings.thinking, settings.web
            )
        )
        self.catalog = Catalog(self.client, from_server=settings.model is None)
        self.log: SessionLog | None = store.new_log(self.conversation) if store else None
        self.pending_input = ""
        self.edit_request: str | None = None
        """Text to open in the editor at the next prompt (/edit), or None."""
        self.confirm: Callable[[str], bool] = lambda question: False
        """Asks a yes/no question (the REPL answers it at the terminal; elsewhere the answer is no)."""
        self.exit_requested = False
        self.interactive = True  # False in one-shot mode: there is no prompt to put a message back at
        self._autosave_failed = False
        self._search_thinking_off = False  # the server refused thinking while searching: searches go without
        self._told_unlisted: set[str] = set()  # models the user heard the server does not list
        self.listed: list[Path] = []
        """The sessions /sessions showed last, in order: what /resume NUMBER names."""
        self.saved_to: Path | None = None
        """The file /save wrote last (what /save! alone replaces)."""
        self.sent_from = 0
        """The first turn the last request sent (turns before it were left out to fit, or compacted away)."""
        self._pictures_named_for: str | None = None  # the model last told that pictures go as their names
        self.attachments: list[Image] = []
        """Pictures to send with the next message."""
        self.role: Role | None = settings.roles.get(settings.role) if settings.role else None
        self._before_role: InForce | None = None

    @property
    def model(self) -> str:
        return self.conversation.model

    # -- the model -----------------------------------------------------------------------------------
    def profile(self, model: str | None = None, *, fetch: bool = True) -> ModelProfile:
        """What ``model`` (the current one by default) accepts (see :meth:`Catalog.profile`)."""
        return self.catalog.profile(model or self.conversation.model, fetch=fetch)

    def listed_models(self) -> list[str] | None:
        """The ids ``GET /models`` lists (fetched once), or None when the server cannot say."""
        return self.catalog.listed()

    def resolve_model(self) -> str | None:
        """Choose the default model from the server's list, if no model was configured.

        Returns:
            A note when the model changed from the built-in default, else None.
        """
        conversation = self.conversation
        chosen = self.catalog.resolve_default(lambda: conversation.model, self._put_model)
        if chosen is None:
            return None
        return (
            f"{chosen.previous} is not offered by {public_url(self.settings.base_url)}: using {chosen.chosen} instead."
        )

    def _put_model(self, model: str) -> None:
        self.conversation.model = model

    def unlisted_warning(self, model: str, *, once: bool = False) -> str | None:
        """A warning when the server's ``GET /models`` does not list ``model`` (None if it does, or cannot say, or
        with ``once``, the user was told already)."""
        if not self.catalog.unlisted(model) or (once and model in self._told_unlisted):
            return None
        self._told_unlisted.add(model)
        return f"⚠ {model} is not a model this server lists. {self.current_models(model)}"

    def current_models(self, near: str) -> str:
        """A sentence naming the models the server lists, the closest to ``near`` first."""
        nearest = self.catalog.nearest(near)
        if not nearest:
            return "/models lists the models you can use." if self.interactive else ""
        switch = "Switch with /model NAME." if self.interactive else "Choose one with -m NAME."
        return f"Current models: {', '.join(nearest)}. {switch}"

    # -- settings ----------------------------------------------------------------------------------
    def set_model(self, name: str) -> None:
        with self.catalog.choosing():
            self.conversation.model = name
        self._record(lambda log: log.settings())

    def set_temperature(self, value: float | None) -> None:
        self.conversation.temperature = value
        self._record(lambda log: log.settings())

    def set_system(self, text: str | None) -> None:
        self.conversation.system = text or None
        self._record(lambda log: log.settings())

    def set_thinking(self, on: bool) -> None:
        """Choose thinking on or off (it applies to models that can switch)."""
        self.conversation.thinking = on
        self._record(lambda log: log.settings())

    def set_web(self, on: bool) -> None:
        """Offer Moonshot's web search to the model (or stop offering it) from the next message on."""
        self.conversation.web = on
        self._record(lambda log: log.settings())

    def settings_in_force(self) -> InForce:
        """The conversation's model, temperature, system prompt, thinking and web choice, to restore later."""
        return self.conversation.in_force

    def restore_settings(self, settings: InForce) -> None:
        """Put back what :meth:`settings_in_force` returned (and record it, if anything changed)."""
        if settings == self.conversation.in_force:
            return
        self.conversation.in_force = settings
        self._record(lambda log: log.settings())

    # -- roles ---------------------------------------------------------------------------------------
    def apply_role(self, role: Role) -> None:
        """Take ``role``'s model, temperature, system prompt and thinking (what it sets); /role clear undoes it."""
        conversation = self.conversation
        before = conversation.in_force
        if self._before_role is None:
            self._before_role = before
        changes = _role_changes(role)
        if role.model is not None:
            with self.catalog.choosing():
                conversation.in_force = before.but(**changes)
        else:
            conversation.in_force = before.but(**changes)
        self.role = role
        self._record(lambda log: log.settings())

    def clear_role(self) -> Role | None:
        """Leave the role: the settings go back to what they were before it; return the role left (or None)."""
        left, self.role = self.role, None
        if self._before_role is not None and left is not None:
            conversation, before = self.conversation, self._before_role
            now = conversation.in_force
            # Only what still holds the role's value goes back: a choice made after the role stays.
            back = {
                name: getattr(before, name)
                for name, value in _role_changes(left).items()
                if getattr(now, name) == value
            }
            conversation.in_force = now.but(**back)
            self._before_role = None
            self._record(lambda log: log.settings())
        return left

    # -- pictures ------------------------------------------------------------------------------------
    def attach_image(self, path: Path) -> Image:
        """Read a picture to send with the next message.

        Raises:
            ImageError: the file is not a picture that can be sent, or the model takes none.
        """
        self._check_images_taken(sending=False)
        image = read_image(path)
        if sum(picture.size for picture in self.attachments) + image.size > MAX_PICTURES_BYTES:
            raise ImageError(
                f"{path.name} would make the pictures of one message more than {MAX_PICTURES_BYTES >> 20} MB: "
                "send these first (/image lists them)."
            )
        self.attachments.append(image)
        return image

    def _check_images_taken(self, *, sending: bool = True) -> None:
        """Raises ImageError naming a model that takes pictures, if the current one does not."""
        model = self.conversation.model
        if self.profile().images:
            return
        able = self.catalog.taking_pictures(model)
        switch = f": /model {able} does" if able else ""
        if not sending:
            raise ImageError(f"{model} takes no pictures{switch}.")
        raise ImageError(f"{model} takes no pictures{switch} (/image clear drops them). Nothing was sent.")

    def describe_model(self) -> str:
        """One line about the current model: thinking, window, images."""
        profile = self.profile()
        parts = [profile.id, profile.thinking_label(self.conversation.thinking)]
        if profile.window:
            parts.append(f"{short_tokens(profile.window)} context")
        if profile.images:
            parts.append("images")
        if not profile.known:
            parts.append("unknown to kimi-repl: no sampling parameters are sent unless you choose them")
        return " · ".join(part for part in parts if part)

    def describe_temperature(self) -> str:
        """The temperature in force for the current model, and where it comes from."""
        profile = self.profile()
        chosen = self.conversation.temperature
        yours = f"; your choice ({chosen:g}) applies to models that take one" if chosen is not None else ""
        if profile.fixed_sampling:
            fixed = profile.fixed_temperature_now(self.conversation.thinking)
            uses = f"uses {fixed:g}" if fixed is not None else "sets its own"
            switchable = profile.thinking is Thinking.SWITCHABLE
            when = f" with {profile.thinking_label(self.conversation.thinking)}" if switchable else ""
            return f"{profile.id} {uses}{when} and refuses any other, so none is sent{yours}"
        if chosen is not None:
            return f"{chosen:g}"
        if profile.recommended_temperature is None:
            return f"none is sent: {profile.id} uses its server's default"
        return f"{profile.recommended_temperature:g} (Moonshot's recommendation for {profile.id})"

    # -- which conversation ------------------------------------------------------------------------
    def start_new(self) -> None:
        """A new, empty conversation with the same settings, saved in a new session file."""
        self.adopt(self.conversation.fresh())

    def adopt(self, conversation: Conversation, *, pending: str = "") -> None:
        """Make ``conversation`` (new, or loaded from a transcript) the current one, saved as a new session.

        Args:
            pending: a message that never got its reply, put back at the prompt.
        """
        if conversation.turns:
            conversation.id, conversation.created = new_session_id(), time.time()
        self._switch(conversation, pending)
        if self.store is not None:
            self.log = self.store.new_log(conversation)
            if conversation.turns:
                self._record(lambda log: log.turn(*conversation.turns))

    def resume(self, path: Path) -> None:
        """Take up the saved session in ``path`` and append to it from now on.

        If another kimi-repl has it open (or it is to be left as it is), it is forked: its turns go on in a new
        session, and a note says so.

        Raises:
            TranscriptError: it cannot be read.
        """
        if self.store is None:
            raise TranscriptError("sessions are not saved in this mode")
        if self.log is not None and self.log.path == path:
            raise TranscriptError("that is the session open here already")
        resumed = self.store.resume(path)
        for note in resumed.notes:
            self.display.warning(note)
        if resumed.log is None:
            forked_from = resumed.conversation.id
            self.adopt(resumed.conversation, pending=resumed.pending)
            self.display.warning(
                f"⚠ Session {forked_from} {resumed.why}: continuing in a new session, "
                f"{self.conversation.id}, forked from it."
            )
            return
        self._switch(resumed.conversation, resumed.pending)
        self.log = resumed.log
        with contextlib.suppress(OSError):
            os.utime(path)  # the session taken up last is the one -c continues
        if resumed.pending:  # it goes back to the prompt: the file says so too, so the two never differ
            self._record(lambda log: log.withdraw(resumed.pending))

    def _switch(self, conversation: Conversation, pending: str) -> None:
        if self.log is not None:
            self.log.close()
            self.log = None
        with self.catalog.choosing():  # a conversation from a file names its model
            self.conversation = conversation
        self.pending_input = pending
        self.sent_from = conversation.context_start
        self._pictures_named_for = None

    def take_pending_input(self) -> str:
        """The message that never got its reply (a failed request, or a resumed session), once."""
        text, self.pending_input = self.pending_input, ""
        return text

    def _record(self, action: Callable[[SessionLog], None]) -> None:
        """Apply ``action`` to the session file. A failure is reported at once (the chat goes on); so is the
        first write that works again, which saves everything."""
        log = self.log
        if log is None:
            return
        was_dirty = log.dirty
        try:
            action(log)
        except TranscriptError as error:
            if not self._autosave_failed:
                self._autosave_failed = True
                self.display.warning(
                    f"⚠ {error}. The chat goes on; it is saved as soon as writing works again"
                    + self._hint(" (or /save it elsewhere).", ".")
                )
            return
        if was_dirty and self._autosave_failed:
            self._autosave_failed = False
            self.display.note(f"The session is saved again ({log.path}).")

    def flush(self) -> str | None:
        """Save whatever an earlier failure left unsaved; return why it still cannot be saved, or None."""
        log = self.log
        if log is None or not log.dirty:
            return None
        try:
            log.save_whole()
        except TranscriptError as error:
            return str(error)
        self._autosave_failed = False
        return None

    def close(self) -> None:
        """The session ends: its lock goes, and a session this run made but left empty is removed."""
        if self.log is not None:
            self.log.close()

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
        with held(then_raise=False):  # a Ctrl-C after the reply has arrived has nothing left to stop
            try:
                with allowed():  # these may ask the server; Ctrl-C gives the message back
                    self.resolve_model()
                    refusal = self._refusal(text)
            except KeyboardInterrupt:
                self.pending_input = text
                raise
            if refusal:
                self.pending_input = text
                self.display.error(self._with_recall(refusal))
                return None
            conversation = self.conversation
            try:
                user = conversation.add_user(text, self.attachments)
                self._record(lambda log: log.turn(user))
                reply = self._reply(conversation.model, conversation.turns)
            except ReplyFailed as failure:
                self._withdraw(text)
                self.display.error(self._with_recall(str(failure)))
                return None
            except BaseException:  # Ctrl-C before the stream began, or a bug: the message goes back
                self._withdraw(text)
                raise
            conversation.add_reply(reply)
            self._record(lambda log: log.turn(reply))
            self.attachments.clear()  # sent: the next message goes without them
        return reply

    def _refusal(self, text: str) -> str | None:
        """Why ``text`` cannot be sent as it is (pictures to a model that takes none, too long), or None."""
        try:
            if self.attachments:
                self._check_images_taken()
        except ImageError as refusal:
            return str(refusal)
        return self._too_long_alone(text)

    def _hint(self, interactive: str, shell: str) -> str:
        """The way out to name: a slash-command at the prompt, a flag or command in one-shot mode."""
        return interactive if self.interactive else shell

    def _with_recall(self, message: str) -> str:
        """``message`` and, at a prompt, how to get the message back."""
        return f"{message} ↑ brings your message back." if self.interactive else message

    def _withdraw(self, text: str) -> None:
        """Take the unanswered message back out of the conversation (and the file), to the prompt."""
        conversation = self.conversation
        if conversation.turns and conversation.turns[-1].role == "user":
            conversation.withdraw_user()
            self._record(lambda log: log.withdraw(text))
        self.pending_input = text

    def _too_long_alone(self, text: str) -> str | None:
        """Why ``text`` cannot be sent at all to the current model (too long for its window, even with every
        older turn left out), or None. Counted here, cautiously: nothing is sent to find out."""
        window = self.window()
        if window is None:
            return None
        conversation = self.conversation
        message = Turn(role="user", content=text, images=self.attachments).to_message(images=self.profile().images)
        tokens = local_estimate([*conversation.preamble(), message])
        if tokens <= window:
            return None
        return self._too_long_for(conversation.model, window, message=local_estimate([message])) + " Nothing was sent."

    def _too_long_for(self, model: str, window: int, *, message: int | None = None) -> str:
        """What does not fit ``model``'s window even alone: the documents (the way out: /file clear), the system
        prompt, or the message (``message``: its size, when known)."""
        conversation = self.conversation
        documents = sum(document_tokens(d) for d in conversation.documents)
        system = local_estimate(conversation.preamble()[:1]) if conversation.system else 0
        room = f"{model}'s {short_tokens(window)} window"
        larger = "a model with a larger window may take"
        clear = "/file clear removes them" if self.interactive else "leave them out"
        if documents > window // 2:
            what = "Your documents" if len(conversation.documents) > 1 else "Your document"
            return f"{what} ({short_tokens(documents)} tokens) do not fit {room}: {clear}, or {larger} them."
        if system > window // 2:
            return f"The system prompt ({short_tokens(system)} tokens) does not fit {room}: shorten it, or {larger} it."
        size = f"about {short_tokens(message)} tokens" if message is not None else "too long"
        return f"Your message is {size}: too long for {room} ({larger} it)."

    def retry(self, model: str | None = None) -> Turn | None:
        """Generate the last reply again (with ``model`` if given), replacing it once the new one arrived.

        A new reply that did not finish (interrupted, cut, incomplete) does not replace one that did.
        """
        conversation = self.conversation
        if not conversation.turns or conversation.turns[-1].role != "assistant":
            self.display.error("There is no reply to retry yet.")
            return None
        previous = conversation.turns[-1]
        with held(then_raise=False):
            try:
                reply = self._reply(model or conversation.model, conversation.turns[:-1])
            except ReplyFailed as failure:
                self.display.error(f"{failure} The previous reply is kept.")
                return None
            if reply.unfinished and not previous.unfinished:
                how = "was interrupted" if reply.interrupted else "did not finish"
                self.display.warning(f"⚠ The new reply {how}: the previous reply is kept (/retry tries again).")
                return None
            self._replace_reply(reply)
        return reply

    def continue_reply(self) -> Turn | None:
        """Ask the model to go on with the last reply, which stopped early (Moonshot's partial mode).

        The continuation streams under the reply and joins it as one turn: saved, undone and exported
        as one.

        Returns:
            The joined reply, or None when there was nothing to continue or no continuation arrived.
        """
        conversation = self.conversation
        previous = conversation.last_reply
        if previous is None or conversation.turns[-1] is not previous:
            self.display.error("There is no reply to continue yet.")
            return None
        if not previous.unfinished:
            self.display.info("The last reply is complete: there is nothing to continue.")
            return None
        with held(then_raise=False):
            try:
                more = self._reply(conversation.model, conversation.turns, partial=True)
            except ReplyFailed as failure:
                self.display.error(f"{failure} The reply is kept as it was.")
                return None
            joined = _joined(previous, more)
            self._replace_reply(joined)
        return joined

    def _replace_reply(self, turn: Turn) -> None:
        """Put ``turn`` in place of the last reply: one line in the file (a reply after a reply replaces it), so
        a crash leaves the old reply or the new one, never neither."""
        self.conversation.replace_reply(turn)
        self._record(lambda log: log.turn(turn))

    def _reply(self, model: str, turns: list[Turn], *, partial: bool = False) -> Turn:
        """A reply to ``turns`` from ``model``, planned for its window and what it takes (:mod:`kimi_repl.window`).

        If the server still finds the request too long, the budget is fitted to the server's own count of
        the input when that leaves room for an answer; otherwise more old turns are left out. Either way the
        request is sent once more. Nothing is changed for later requests.

        Raises:
            ReplyFailed: no reply arrived.
        """
        profile = self.profile(model)
        planned = self.plan(profile, turns)
        window = planned.window
        if window is not None and planned.tokens + min(REPLY_FLOOR, self.settings.max_tokens) > window:
            # Even the newest turns leave no room for a reply: the server would refuse it; say why here.
            message = local_estimate(planned.messages[-1:])
            raise ReplyFailed(self._too_long_for(model, window, message=message) + " Nothing was sent.")
        self._report_plan(planned, profile)
        try:
            return self._generate(self._request(profile, planned, partial))
        except ReplyFailed as failure:
            if not failure.too_long:
                raise
            window = failure.window or profile.window
            if window is None:
                raise
            counted = self.client.estimate_tokens(planned.messages, model=model)
            again = after_refusal(self.conversation, turns, profile, planned, counted=counted, window=window)
            if again is None:
                raise ReplyFailed(self._too_long_for(model, window)) from None
            if again.start != planned.start:
                self._report_plan(again, profile, refused=True)
            return self._generate(self._request(profile, again, partial))

    def plan(
        self, profile: ModelProfile, turns: list[Turn] | None = None, *, target: int | None = None, ask: bool = True
    ) -> Plan:
        """What a request to ``profile``'s model would carry of ``turns`` (the whole conversation by default).

        Args:
            ask: the server may be asked for the size when it is close to the limit (False: estimate locally).
        """
        conversation = self.conversation
        turns = conversation.turns if turns is None else turns
        count = functools.partial(self.client.estimate_tokens, model=profile.id) if ask else None
        return plan(conversation, turns, profile, count=count, hint=tokens_by_usage(conversation, turns), target=target)

    def unseen_by(self, model: str) -> list[str]:
        """What ``model`` will not see of this conversation, one warning each (for /model NAME)."""
        profile = self.profile(model)
        planned = self.plan(profile, ask=False)
        warnings = []
        pictures = planned.named_pictures
        if pictures:
            several = "s" if pictures != 1 else ""
            warnings.append(f"⚠ {model} takes no pictures: the {pictures} picture{several} so far go as their names.")
        if self.attachments and not profile.images:
            warnings.append(
                f"⚠ {model} takes no pictures: those attached for your next message cannot go (/image clear)."
            )
        left_out = planned.start - self.conversation.context_start
        if left_out > 0 and planned.window is not None:
            warnings.append(
                f"⚠ {model}'s {short_tokens(planned.window)} window does not hold the whole conversation: "
                f"the {left_out} oldest turns are left out while you use it."
            )
        return warnings

    def _request(self, profile: ModelProfile, planned: Plan, partial: bool) -> ChatRequest:
        conversation = self.conversation
        web = conversation.web
        return build_request(
            planned.messages,
            profile,
            temperature=conversation.temperature,
            thinking=False if web and self._search_thinking_off else conversation.thinking,
            budget=reply_budget(profile.window, planned.tokens, self.settings.max_tokens),
            web=web,
            partial=partial,
        )

    # -- the context window ------------------------------------------------------------------------
    def window(self, model: str | None = None) -> int | None:
        """``model``'s context window, from its profile."""
        return self.profile(model).window

    def _report_plan(self, planned: Plan, profile: ModelProfile, *, refused: bool = False) -> None:
        """Say what this request leaves out that the last one did not (or sends again), once."""
        model, window = profile.id, planned.window
        before, self.sent_from = self.sent_from, planned.start
        if window is not None and planned.start > before:
            why = f"{model} refused the request as too long" if refused else f"The conversation is too long for {model}"
            larger = self._hint(
                "/history shows which; a model with a larger window sends them again",
                "a model with a larger window, -m NAME, takes them all",
            )
            self.display.warning(
                f"⚠ {why} ({short_tokens(window)} window): the {planned.start} oldest turns are not sent with this "
                f"message ({larger})."
            )
        elif planned.start < before:
            again = before - planned.start
            self.display.note(f"The {again} older turns left out before are sent again ({model} has room for them).")
        if window is not None and not planned.fits:
            self.display.warning(
                f"⚠ The request is still about {short_tokens(planned.tokens)} tokens of {model}'s "
                f"{short_tokens(window)}: the reply may be cut short."
            )
        if planned.named_pictures and self._pictures_named_for != model:
            count = planned.named_pictures
            self.display.warning(
                f"⚠ {model} takes no pictures: the {count} picture{'s' if count != 1 else ''} in this conversation "
                "go as their names (a model that takes pictures sees them again)."
            )
        self._pictures_named_for = model if planned.named_pictures else None

    def usage_line(self, turn: Turn) -> str | None:
        """The usage line for a reply, or None when the server reported none."""
        usage = turn.usage
        if usage is None:
            return None
        profile = self.profile(turn.model)
        thinking = profile.thinking_label(turn.thinking)
        return usage_line(usage, profile.window, thinking=thinking, searches=len(turn.searches))

    # -- documents ---------------------------------------------------------------------------------
    def attach(self, path: Path) -> Document:
        """Read ``path`` (uploading it for extraction if it is not plain text) and add it to the conversation.

        Raises:
            DocumentError: the file cannot be used.
        """
        document = load_document(path, self.client)
        if any((d.name, d.content) == (document.name, document.content) for d in self.conversation.documents):
            raise DocumentError(f"{path.name} is attached already, unchanged (/file lists what is attached)")
        window = self.window()
        tokens = document_tokens(document)
        if window is not None and tokens > window - reply_reserve(window):
            raise DocumentError(
                f"{path.name} is about {short_tokens(tokens)} tokens: too much for {self.conversation.model}'s "
                f"{short_tokens(window)} window (a larger model may fit)"
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

    def compact(self, start: int) -> None:
        """Stop sending the turns before ``start`` (a choice the user makes, kept with the session)."""
        self.conversation.context_start = start
        self.sent_from = max(self.sent_from, start)
        self._record(lambda log: log.context())

    def uncompact(self) -> int:
        """Send every turn again (as far as the window allows); return how many were compacted away."""
        count, self.conversation.context_start = self.conversation.context_start, 0
        if count:
            self._record(lambda log: log.context())
        return count

    def undo(self) -> list[Turn]:
        """Remove the last exchange; return the turns removed."""
        removed = self.conversation.undo()
        self._record(lambda log: log.undo(len(removed)))
        return removed

    def _generate(self, request: ChatRequest) -> Turn:
        """Stream the reply to ``request`` into the display and return it as a turn (not yet added).

        A round that asks for a web search is answered and the request sent again (at most
        :data:`MAX_SEARCH_ROUNDS` times); the turn holds every round's text and the searches.

        Raises:
            ReplyFailed: nothing of an answer arrived (an error, or Ctrl-C before the first words).
        """
        # The streaming half (the renderer, rich) loads here, not on import: the prompt does not wait for it.
        from kimi_repl.reply import MAX_SEARCH_ROUNDS, after_search, stream_round

        started = time.time()
        rounds: list[Round] = []
        while True:
            view = self.display.reply(model=request.model, resume=request.prefix)
            current = stream_round(
                functools.partial(self.client.stream_chat, request), view, gone=lambda: self.display.gone
            )
            if self._refused_thinking_while_searching(request, current):
                request = request._replace(thinking={"type": "disabled"})
                continue
            rounds.append(current)
            if not current.searching or len(rounds) > MAX_SEARCH_ROUNDS:
                break
            for call in current.calls:
                about = f" for “{call.query}”" if call.query else ""
                results = f" ({short_tokens(call.result_tokens)} tokens of results)" if call.result_tokens else ""
                self.display.note(f"⌕ Searching the web{about}…{results}")
            request = after_search(request, current)
        return self._turn(request, rounds, started)

    def _refused_thinking_while_searching(self, request: ChatRequest, current: Round) -> bool:
        """Whether the server refused a search with thinking on, and thinking can go off for searches: then it
        does, for the rest of the session, and the user is told once."""
        failure = current.failure
        if failure is None or failure.status != 400 or isinstance(failure, ContextTooLong) or current.content:
            return False
        if not (request.tools and request.thinks) or self.profile(request.model).thinking is not Thinking.SWITCHABLE:
            return False
        self._search_thinking_off = True
        self.display.warning(
            f"⚠ Moonshot does not let {request.model} think while it searches, so thinking is off in requests "
            f"that may search ({self._hint('/web off searches no more', 'without --web it does not search')}). "
            f"It said: {failure}"
        )
        return True

    def _turn(self, request: ChatRequest, rounds: list[Round], started: float) -> Turn:
        """The reply that ``rounds`` make, with the warnings and usage line it calls for.

        Raises:
            ReplyFailed: no answer arrived.
        """
        conversation = self.conversation
        model = request.model
        last = rounds[-1]
        answer = "".join(r.content for r in rounds)
        reasoning = "\n\n".join(r.reasoning for r in rounds if r.reasoning)
        searches = [call.record() for r in rounds if r.searching for call in r.calls]
        failure, interrupted, reason = last.failure, last.interrupted, last.reason
        if not answer:
            if isinstance(failure, ContextTooLong):
                raise ReplyFailed(str(failure), too_long=True, window=failure.window)
            if isinstance(failure, ModelNotFound):
                self._told_unlisted.add(failure.model)  # the list is in this line: the warm-up need not repeat it
                raise ReplyFailed(f"{failure} {self.current_models(failure.model)}".rstrip())
            if failure is not None:
                without = self._hint("/web off sends without search", "without --web it sends without search")
                searching = f" (while searching the web: {without})" if request.tools else ""
                raise ReplyFailed(f"{failure}{searching}")
            if interrupted:
                raise ReplyFailed("Interrupted before the reply began.")
            if last.searching:
                raise ReplyFailed(f"{model} kept searching ({len(searches)} searches) without answering.")
            if reason == "length" and reasoning:
                off = self._hint("/thinking off", "--thinking off")
                raise ReplyFailed(
                    f"{model} spent the whole reply budget ({request.budget:,} tokens) thinking, before any "
                    f"answer: raise it with --max-tokens, or turn thinking off with {off}."
                )
            raise ReplyFailed("The reply ended before any answer arrived.")
        usages = [Usage.from_record(r.finished.usage if r.finished else None) for r in rounds]
        spent = [usage for usage in usages if usage is not None]
        reported = usages[-1]  # kept in Moonshot's shape, with only the counts read (a server's extras go)
        in_force = conversation.in_force.but(model=model)
        if request.thinking is not None:
            in_force = in_force.but(thinking=request.thinks)
        turn = Turn.under(
            in_force,
            "assistant",
            answer,
            reasoning_content=reasoning,
            finish_reason=reason,
            interrupted=interrupted,
            incomplete=not interrupted and reason is None,
            usage=reported,
            spent=sum(spent, Usage()) if len(spent) > 1 else None,
            searches=searches,
            created=started,
            finished=time.time(),
        )
        go_on = self._hint("/continue asks the model to go on", "kimi-repl -c, then /continue, goes on")
        if any(r.drawing_cut for r in rounds) and not self.display.gone:
            kept = self._hint("/copy copies it, /save writes it", "kimi-repl -c has it")
            self.display.note(f"⏹ Drawing stopped: the whole reply is kept ({kept}).")
        if self.display.gone:
            pass  # nobody is there to tell: the reply is saved, marked interrupted
        elif interrupted:
            self.display.warning(f"⏹ Interrupted: the partial reply is kept, marked as interrupted ({go_on}).")
        elif failure is not None:
            self.display.error(f"{failure} The partial reply is kept, marked incomplete ({go_on}).")
        elif reason is None:
            self.display.warning(
                "⚠ The stream ended without a finish reason (connection cut?): "
                f"the reply is incomplete and kept, marked as such ({go_on})."
            )
        elif reason == "length":
            raise_it = self._hint("kimi-repl --max-tokens N raises it", "--max-tokens N raises it")
            self.display.warning(f"⚠ {_why_cut(request, reported, self.settings.max_tokens, raise_it)}: {go_on}.")
        elif reason == "content_filter":
            self.display.warning("⚠ Moonshot's content filter stopped the reply.")
        line = self.usage_line(turn)
        if line:
            self.display.usage(line)
        return turn


def _role_changes(role: Role) -> dict[str, Any]:
    """What taking ``role`` changes of the settings in force, by field name."""
    wanted = {"model": role.model, "temperature": role.temperature, "thinking": role.thinking}
    changes: dict[str, Any] = {name: value for name, value in wanted.items() if value is not None}
    if role.system is not None:
        changes["system"] = role.system or None
    return changes


def _why_cut(request: ChatRequest, usage: Usage | None, cap: int, raise_it: str) -> str:
    """Why a reply stopped at ``length``: its budget (the user's cap, or what the window left), or the model's
    own output limit (it wrote clearly less than the budget)."""
    if usage is not None and 0 < usage.completion < request.budget * 0.9:
        return (
            f"{request.model} stopped at its own output limit after {usage.completion:,} tokens (the budget was "
            f"{request.budget:,}), and the reply was cut short"
        )
    why = raise_it if request.budget >= cap else f"all that {request.model}'s window left"
    return f"The reply reached its budget of {request.budget:,} tokens ({why}) and was cut short"


def _joined(previous: Turn, more: Turn) -> Turn:
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
