"""Session titles: one given with /title, or (``titles = "model"``) a short one asked of the current model after
the first reply, in the background; otherwise the title is derived from the first message, at no cost."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from kimi_repl.client.sse import ContentDelta
from kimi_repl.identity import clean_title
from kimi_repl.profile import Thinking
from kimi_repl.request import build_request

if TYPE_CHECKING:
    from kimi_repl.chat.core import Chat

ASK = (
    "Give this conversation a title of at most six words, in the language the user wrote in. Answer with the title "
    "alone: no quotes, no full stop."
)
SHOWN_CHARS = 2000
"""How much of the first message and of the reply the model is shown (enough for a title, cheap)."""
TITLE_BUDGET = 40
THINKING_BUDGET = 2000
"""For a model that always thinks: room to think a little and still answer."""


def give_title(chat: Chat, text: str) -> str:
    """Title the conversation ``text`` (the user's choice: a title asked of the model never replaces it); ""
    goes back to the derived title. Return the title now in force."""
    title = chat.conversation.name(chat.client.secret.redact_shown(text), "user")
    chat.autosave.record(lambda log: log.title())
    return title


def _tidy(text: str) -> str:
    """A model's answer as a title: the first line, without quotes or a full stop around it."""
    line = next((line for line in text.splitlines() if line.strip()), "")
    return clean_title(line.strip().strip("\"'“”‘’「」《》*#").rstrip("。.").strip())


class ModelTitles:
    """Asks the model for a title once a conversation untitled has a reply (its first, in a new one), without ever
    holding up the prompt.

    :meth:`tick` is called before each prompt: it gives the conversation a title that has arrived (if it is still
    current and untitled) and starts the request for one that needs it. The request runs in a daemon thread and
    only leaves a string behind: the conversation and its file are changed on the caller's thread alone.
    """

    def __init__(self, chat: Chat) -> None:
        self.chat = chat
        self._asked: set[str] = set()
        self._found_with: dict[str, int] = {}
        """How many turns each conversation had when first seen: one is titled only once a reply arrives here
        (opening, loading or branching an untitled session costs nothing)."""
        self._lock = threading.Lock()
        self._arrived: dict[str, str] = {}

    def tick(self) -> None:
        conversation = self.chat.conversation
        with self._lock:
            title = self._arrived.pop(conversation.id, None)
        if title and not conversation.named:
            conversation.name(title, "model")
            self.chat.autosave.record(lambda log: log.title())
            return
        found_with = self._found_with.setdefault(conversation.id, len(conversation.turns))
        replied = len(conversation.turns) >= 2 and len(conversation.turns) > found_with
        wanted = replied and not conversation.named and conversation.id not in self._asked
        if wanted and not conversation.turns[1].unfinished:
            self._asked.add(conversation.id)
            first, reply = conversation.turns[0].content, conversation.turns[1].content
            thread = threading.Thread(
                target=self._ask, args=(conversation.id, conversation.model, first, reply), daemon=True
            )
            thread.start()

    def _ask(self, session: str, model: str, first: str, reply: str) -> None:
        """Ask ``model`` for a title of the exchange; keep what it says (nothing on any failure: the derived title
        stays)."""
        try:
            profile = self.chat.catalog.profile(model, fetch=False)
            always = profile.thinking is Thinking.ALWAYS
            messages = [
                {"role": "user", "content": first[:SHOWN_CHARS]},
                {"role": "assistant", "content": reply[:SHOWN_CHARS]},
                {"role": "user", "content": ASK},
            ]
            request = build_request(
                messages,
                profile,
                temperature=None,
                thinking=False,
                budget=THINKING_BUDGET if always else TITLE_BUDGET,
            )
            text = "".join(e.text for e in self.chat.client.stream_chat(request) if isinstance(e, ContentDelta))
        except Exception:
            return
        title = _tidy(self.chat.client.secret.redact_shown(text))
        if title:
            with self._lock:
                self._arrived[session] = title
