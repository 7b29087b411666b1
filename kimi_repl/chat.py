"""The chat session: settings and conversation in one object, and sending a message through the stream.

This is everything the REPL does apart from reading input, so it runs the same under a terminal, a pipe
or a test.
"""

from __future__ import annotations

from kimi_repl.client import ChatError, ContentDelta, Finished, MoonshotClient, ReasoningDelta
from kimi_repl.config import Settings
from kimi_repl.conversation import Conversation, Turn
from kimi_repl.models import has_fixed_temperature, recommended_temperature
from kimi_repl.render import Display


class ChatSession:
    """The state the REPL and the commands read and change.

    Attributes:
        pending_input: text to put back at the prompt (a message whose request failed).
        exit_requested: set by /exit.
    """

    def __init__(self, settings: Settings, display: Display, client: MoonshotClient | None = None) -> None:
        self.settings = settings
        self.display = display
        self.client = client or MoonshotClient(settings)
        self.conversation = Conversation(system=settings.system)
        self.pending_input = ""
        self.exit_requested = False

    @property
    def model(self) -> str:
        return self.settings.model

    def describe_temperature(self) -> str:
        """The temperature in force for the current model, and where it comes from."""
        model, chosen = self.settings.model, self.settings.temperature
        if has_fixed_temperature(model):
            extra = f" (you chose {chosen:g})" if chosen is not None else ""
            return f"{model} accepts only its own temperature (1), so none is sent{extra}."
        if chosen is None:
            return f"{recommended_temperature(model):g} (Moonshot's recommendation for {model})"
        return f"{chosen:g}"

    def take_pending_input(self) -> str:
        """The text to pre-fill the next prompt with, once."""
        text, self.pending_input = self.pending_input, ""
        return text

    def send(self, text: str) -> Turn | None:
        """Send ``text`` as the next user turn, stream the reply to the display, and record it.

        Ctrl-C stops the stream and keeps the partial reply, marked interrupted. If the request fails
        before any answer arrived, the user turn is withdrawn (the conversation keeps alternating) and
        its text waits at the next prompt.

        Returns:
            The assistant turn, or None when no reply was recorded.
        """
        self.conversation.add_user(text)
        model = self.settings.model
        content: list[str] = []
        reasoning: list[str] = []
        finished: Finished | None = None
        error: str | None = None
        interrupted = False
        view = self.display.reply(model=model)
        try:
            events = self.client.stream_chat(
                self.conversation.messages(), model=model, temperature=self.settings.temperature
            )
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
            self.pending_input = self.conversation.withdraw_user()
            if error:
                self.display.error(error)
            elif interrupted:
                self.display.note("Interrupted before the reply began; your message is back at the prompt.")
            else:
                self.display.error("The reply ended before any answer arrived; your message is back at the prompt.")
            return None

        reason = finished.reason if finished else None
        turn = Turn(
            role="assistant",
            content=answer,
            model=model,
            reasoning_content="".join(reasoning),
            finish_reason=reason,
            interrupted=interrupted,
            incomplete=not interrupted and reason is None,
            usage=finished.usage if finished else None,
        )
        self.conversation.add_reply(turn)
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
