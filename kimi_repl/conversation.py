"""The conversation as data: turns, and the messages sent to the API derived from them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["user", "assistant"]


@dataclass
class Turn:
    """One message of the conversation.

    Attributes:
        interrupted: the user stopped the reply with Ctrl-C.
        incomplete: the stream ended without a ``finish_reason`` (connection cut).
    """

    role: Role
    content: str
    model: str | None = None
    reasoning_content: str = ""
    finish_reason: str | None = None
    interrupted: bool = False
    incomplete: bool = False
    usage: dict[str, Any] | None = None
    created: float = field(default_factory=time.time)

    def to_message(self) -> dict[str, str]:
        """The OpenAI-shaped message for this turn."""
        return {"role": self.role, "content": self.content}


@dataclass
class Conversation:
    """A system prompt and strictly alternating user / assistant turns.

    A user turn is appended when it is sent and removed again if the request fails before any reply
    arrived, so what the API sees always alternates.
    """

    system: str | None = None
    turns: list[Turn] = field(default_factory=list)

    def messages(self) -> list[dict[str, str]]:
        """What the API receives: the system prompt first, then every turn in order."""
        head = [{"role": "system", "content": self.system}] if self.system else []
        return head + [turn.to_message() for turn in self.turns]

    def add_user(self, content: str) -> Turn:
        """Append the user's message; the previous turn must be a reply (or there must be none)."""
        if self.turns and self.turns[-1].role == "user":
            raise ValueError("a user turn is already waiting for its reply")
        turn = Turn(role="user", content=content)
        self.turns.append(turn)
        return turn

    def add_reply(self, turn: Turn) -> None:
        """Append the assistant's reply to the pending user turn."""
        if not self.turns or self.turns[-1].role != "user":
            raise ValueError("a reply needs a user turn before it")
        self.turns.append(turn)

    def withdraw_user(self) -> str:
        """Remove the pending user turn after a failed request and return its text."""
        if not self.turns or self.turns[-1].role != "user":
            raise ValueError("no user turn is waiting")
        return self.turns.pop().content

    def clear(self) -> None:
        """Forget every turn; the system prompt stays."""
        self.turns.clear()

    @property
    def exchanges(self) -> int:
        """Number of user turns so far."""
        return sum(1 for turn in self.turns if turn.role == "user")
