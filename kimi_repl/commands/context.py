"""What a slash-command works with: the chat core, the REPL's state, the display and the narrator."""

from __future__ import annotations

from dataclasses import dataclass

from kimi_repl.chat import Chat
from kimi_repl.client import MoonshotClient
from kimi_repl.config import Settings
from kimi_repl.conversation import Turn
from kimi_repl.display import Display
from kimi_repl.narrator import Narrator, describe_model, describe_temperature, reply_usage
from kimi_repl.replstate import ReplState
from kimi_repl.sessions import SessionStore


@dataclass
class CommandContext:
    """One session as the shell sees it: the chat, the prompt's state, where to show things, who words them."""

    chat: Chat
    state: ReplState
    display: Display
    narrator: Narrator

    @classmethod
    def open(
        cls,
        settings: Settings,
        display: Display,
        client: MoonshotClient | None = None,
        *,
        store: SessionStore | None = None,
        state: ReplState | None = None,
        narrator: Narrator | None = None,
    ) -> CommandContext:
        """A new chat shown on ``display``: its outcomes reach the REPL's state first, then the narrator."""
        return cls.around(Chat(settings, display, client, store=store), display, state=state, narrator=narrator)

    @classmethod
    def around(
        cls, chat: Chat, display: Display, *, state: ReplState | None = None, narrator: Narrator | None = None
    ) -> CommandContext:
        """The shell around ``chat`` (its outcomes reach the REPL's state first, then the narrator)."""
        display.secret = chat.client.secret  # whatever the display shows, the key is taken out
        state = state or ReplState()
        narrator = narrator or Narrator(display)
        chat.observers.insert(0, state.take)  # the message goes back before the failure is told
        if narrator not in chat.observers:
            chat.observers.append(narrator)
        return cls(chat, state, display, narrator)

    @property
    def settings(self) -> Settings:
        return self.chat.settings

    @property
    def store(self) -> SessionStore | None:
        return self.chat.store

    def resolve_model(self) -> str | None:
        """Choose the default model from the server's list (if no model was configured); the notice, if it
        changed."""
        chosen = self.chat.resolve_model()
        return self.narrator.default_chosen(chosen, self.settings.base_url) if chosen else None

    def unlisted_warning(self, model: str, *, once: bool = False) -> str | None:
        """The warning that the server does not list ``model`` (None if it does, cannot say, or was told)."""
        catalog = self.chat.catalog
        return self.narrator.unlisted(model, catalog.nearest(model), once=once) if catalog.unlisted(model) else None

    def describe_model(self) -> str:
        return describe_model(self.chat.profile(), self.chat.conversation.in_force)

    def describe_temperature(self) -> str:
        return describe_temperature(self.chat.profile(), self.chat.conversation.in_force)

    def usage_line(self, turn: Turn) -> str | None:
        """The usage line for a reply, or None when the server reported none."""
        return reply_usage(turn, self.chat.profile(turn.model))
