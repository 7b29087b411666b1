"""The conversation as data: settings in force, turns, and the messages sent to the API derived from them.

Everything else is derived from a :class:`Conversation`: the API request, the session file, the JSON and
Markdown transcripts. It knows nothing about files or the network.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from kimi_repl.identity import Origin, Titled, clean_title, new_session_id, title_of

Role = Literal["user", "assistant"]


@dataclass(frozen=True)
class InForce:
    """The settings a message is sent with, as one value: the model, the temperature (None: the model's own),
    the system prompt, the thinking choice (None: the model's default) and whether the model may search."""

    model: str
    temperature: float | None = None
    system: str | None = None
    thinking: bool | None = None
    web: bool = False

    def but(self, **changes: Any) -> InForce:
        """These settings with ``changes`` (by field name)."""
        return replace(self, **changes)

    def record(self) -> dict[str, Any]:
        """The settings as files keep them: flat, by name."""
        return {
            "model": self.model,
            "temperature": self.temperature,
            "system": self.system,
            "thinking": self.thinking,
            "web": self.web,
        }


MAX_COUNT = 10**12
"""Token counts past this are not believed (they would overflow a float, and no request is that big)."""


def _count(value: Any) -> int:
    """A count of tokens from a server or a file: a whole number from 1 to :data:`MAX_COUNT`, else 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_COUNT else 0


def _detail(usage: Mapping[str, Any], group: str, name: str) -> Any:
    details = usage.get(group)
    return details.get(name) if isinstance(details, Mapping) else None


@dataclass(frozen=True)
class Usage:
    """Tokens of one reply (or a sum of them).

    Moonshot reports usage in ``choices[0].usage`` of the last chunk (or a top-level ``usage``); cached tokens
    come as ``cached_tokens`` or ``prompt_tokens_details.cached_tokens``, reasoning tokens as
    ``completion_tokens_details.reasoning_tokens``. It is read once, when it arrives or is loaded.
    """

    prompt: int = 0
    completion: int = 0
    cached: int = 0
    reasoning: int = 0
    """Completion tokens a thinking model spent reasoning (part of ``completion``)."""

    @classmethod
    def from_record(cls, usage: Mapping[str, Any] | None) -> Usage | None:
        """Read Moonshot's usage object in any of its shapes; None when there is none."""
        if not usage:
            return None
        cached = usage.get("cached_tokens")
        if cached is None:
            cached = _detail(usage, "prompt_tokens_details", "cached_tokens")
        return cls(
            _count(usage.get("prompt_tokens")),
            _count(usage.get("completion_tokens")),
            _count(cached),
            _count(_detail(usage, "completion_tokens_details", "reasoning_tokens")),
        )

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt + other.prompt,
            self.completion + other.completion,
            self.cached + other.cached,
            self.reasoning + other.reasoning,
        )

    def record(self) -> dict[str, Any]:
        """The usage in Moonshot's own shape, as saved with a turn."""
        record: dict[str, Any] = {
            "prompt_tokens": self.prompt,
            "completion_tokens": self.completion,
            "total_tokens": self.total,
        }
        if self.cached:
            record["cached_tokens"] = self.cached
        if self.reasoning:
            record["completion_tokens_details"] = {"reasoning_tokens": self.reasoning}
        return record

    @property
    def total(self) -> int:
        return self.prompt + self.completion


@dataclass
class Image:
    """A picture sent with a message.

    Attributes:
        name: the file's name, for listings and transcripts.
        mime: ``image/png``, ``image/jpeg``, ``image/webp`` or ``image/gif``.
        data: the bytes in base64; "" when only the name was kept (a Markdown transcript), so nothing is sent.
    """

    name: str
    mime: str
    data: str = ""

    @property
    def size(self) -> int:
        """The picture's size in bytes (its base64 decoded)."""
        return len(self.data) * 3 // 4 - self.data[-2:].count("=")

    def part(self) -> dict[str, Any]:
        """The message part Moonshot takes: a ``data:`` URL."""
        return {"type": "image_url", "image_url": {"url": f"data:{self.mime};base64,{self.data}"}}


@dataclass
class Output:
    """What a shell command the user ran (``!COMMAND``) printed, attached to a message.

    Attributes:
        command: the command line as typed.
        text: standard output and error as they came, decoded, made safe, and bounded (see ``cut``).
        status: the exit status (negative: ended by that signal, on POSIX); None if the shell could not start.
        cut: bytes of output left out, in the middle, to keep it bounded (0: none).
    """

    command: str
    text: str
    status: int | None = 0
    cut: int = 0

    def framed(self) -> str:
        """The output as the model reads it: the command, its exit status, the output in a fenced block."""
        longest = max((len(run) for run in re.findall("`+", self.text)), default=0)
        fence = "`" * max(3, longest + 1)
        status = "could not start" if self.status is None else f"exit status {self.status}"
        cut = f"; {self.cut:,} bytes left out of the middle" if self.cut else ""
        command = " ".join(self.command.split())
        return f"Output of the shell command `{command}` ({status}{cut}):\n{fence}\n{self.text.rstrip()}\n{fence}"


@dataclass
class Turn:
    """One message of the conversation, with the settings that were in force when it was sent.

    Attributes:
        created: when the message was sent (user) or the reply began (assistant), seconds since the epoch.
        finished: when the reply ended (assistant turns only).
        thinking: the thinking choice in force (None: the model's default), like ``temperature``.
        interrupted: the user stopped the reply with Ctrl-C.
        incomplete: the stream ended without a ``finish_reason`` (connection cut).
        usage: what the server reported for the request that ended this reply (the context meter reads it).
        spent: usage summed over every request that made this reply, when there were several (web searches,
            a reply continued with /continue); None when it is ``usage``.
        images: pictures sent with a message (user turns).
        outputs: shell commands' output sent with a message (user turns), before its text.
        searches: the web searches the model ran for a reply: ``{"id", "query", "arguments"}`` each.
        written_by: for a reply continued on other models (/continue after /model), each model that wrote part
            of it, in order; empty when ``model`` wrote it all.
    """

    role: Role
    content: str
    model: str | None = None
    temperature: float | None = None
    system: str | None = None
    thinking: bool | None = None
    reasoning_content: str = ""
    finish_reason: str | None = None
    interrupted: bool = False
    incomplete: bool = False
    usage: Usage | None = None
    spent: Usage | None = None
    images: list[Image] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)
    searches: list[dict[str, str]] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    finished: float | None = None
    written_by: list[str] = field(default_factory=list)

    @classmethod
    def under(cls, in_force: InForce, role: Role, content: str, **rest: Any) -> Turn:
        """A turn stamped with the settings ``in_force`` (all but ``web``, which a turn does not keep)."""
        return cls(
            role=role,
            content=content,
            model=in_force.model,
            temperature=in_force.temperature,
            system=in_force.system,
            thinking=in_force.thinking,
            **rest,
        )

    @property
    def credit(self) -> str:
        """Who wrote this reply: its model, or each model in turn (``kimi-k2.6, then moonshot-v1-128k``)."""
        return ", then ".join(self.written_by) if self.written_by else self.model or "unknown model"

    @property
    def unfinished(self) -> bool:
        """A reply that stopped before the model was done: cut by its budget, interrupted or incomplete."""
        return self.role == "assistant" and (self.interrupted or self.incomplete or self.finish_reason == "length")

    def to_message(self, *, images: bool = True) -> dict[str, Any]:
        """The OpenAI-shaped message for this turn: text, then any pictures, as a list of parts.

        Args:
            images: the model takes pictures; if not (or a picture's data was not kept), each is named in the
                text instead, so the request is one the model accepts and it knows a picture was there.
        """
        pictures = [image.part() for image in self.images if image.data] if images else []
        unsent = [image.name for image in self.images if not (images and image.data)]
        content = "\n\n".join([*(output.framed() for output in self.outputs), self.content]).strip("\n")
        if unsent:
            content += f"\n\n[{'picture' if len(unsent) == 1 else 'pictures'} not shown here: {', '.join(unsent)}]"
        if pictures:
            return {"role": self.role, "content": [{"type": "text", "text": content}, *pictures]}
        return {"role": self.role, "content": content}

    @property
    def first_line(self) -> str:
        """The first non-blank line of the content, for compact listings."""
        return next((line.strip() for line in self.content.splitlines() if line.strip()), "")


@dataclass
class Document:
    """A file the user asked about, as text the model reads (Moonshot's extraction, or the file itself).

    Attributes:
        content: what is sent, as a system message, before the conversation (Moonshot's documented way).
        file_id: the id Moonshot gave the upload, if it was uploaded.
    """

    name: str
    content: str
    file_id: str | None = None
    turn: int = 0
    """How many turns the conversation had when the document was added (a branch made before it leaves it out)."""


@dataclass(init=False)
class Conversation:
    """A system prompt, documents, the settings in force, and strictly alternating user / assistant turns.

    A user turn is appended when it is sent and removed again if the request fails before any reply
    arrived, so what the API sees always alternates. Turns before ``context_start`` were compacted away by
    the user (/compact): they stay here (and in the transcript) but are not sent until /compact off.
    ``outputs`` wait for the next message (shell commands' output), and go with it.

    The settings are one value, ``in_force``; ``model``, ``temperature``, ``system``, ``thinking`` and ``web``
    read (and, for the record readers, set) one field of it.
    """

    in_force: InForce
    turns: list[Turn]
    documents: list[Document]
    outputs: list[Output]
    context_start: int
    id: str
    created: float
    named: str
    named_by: Titled | None
    origin: Origin | None

    def __init__(
        self,
        model: str = "",
        temperature: float | None = None,
        system: str | None = None,
        thinking: bool | None = None,
        web: bool = False,
        *,
        in_force: InForce | None = None,
        turns: list[Turn] | None = None,
        documents: list[Document] | None = None,
        outputs: list[Output] | None = None,
        context_start: int = 0,
        id: str | None = None,
        created: float | None = None,
        named: str = "",
        named_by: Titled | None = None,
        origin: Origin | None = None,
    ) -> None:
        self.in_force = in_force or InForce(model, temperature, system, thinking, web)
        self.turns = turns if turns is not None else []
        self.documents = documents if documents is not None else []
        self.outputs = outputs if outputs is not None else []
        self.context_start = context_start
        self.id = new_session_id() if id is None else id
        self.created = time.time() if created is None else created
        self.named = named
        """A title given by the user (/title) or asked of the model; empty: :attr:`title` is derived."""
        self.named_by = named_by
        self.origin = origin
        """The session this one branched from (/rewind, /fork); None for one started afresh."""

    @property
    def model(self) -> str:
        return self.in_force.model

    @model.setter
    def model(self, value: str) -> None:
        self.in_force = self.in_force.but(model=value)

    @property
    def temperature(self) -> float | None:
        return self.in_force.temperature

    @temperature.setter
    def temperature(self, value: float | None) -> None:
        self.in_force = self.in_force.but(temperature=value)

    @property
    def system(self) -> str | None:
        return self.in_force.system

    @system.setter
    def system(self, value: str | None) -> None:
        self.in_force = self.in_force.but(system=value)

    @property
    def thinking(self) -> bool | None:
        return self.in_force.thinking

    @thinking.setter
    def thinking(self, value: bool | None) -> None:
        self.in_force = self.in_force.but(thinking=value)

    @property
    def web(self) -> bool:
        return self.in_force.web

    @web.setter
    def web(self, value: bool) -> None:
        self.in_force = self.in_force.but(web=value)

    def preamble(self) -> list[dict[str, Any]]:
        """What goes before the turns, always: the system prompt, then the documents."""
        head = [{"role": "system", "content": self.system}] if self.system else []
        return head + [{"role": "system", "content": document.content} for document in self.documents]

    def messages(self) -> list[dict[str, Any]]:
        """The preamble, then the turns from ``context_start`` as they are (what a request sends is planned per
        model: :mod:`kimi_repl.planner`)."""
        return self.preamble() + [turn.to_message() for turn in self.turns[self.context_start :]]

    def add_user(self, content: str, images: list[Image] | None = None) -> Turn:
        """Append the user's message (with any pictures, and the waiting outputs), stamped with the settings in
        force."""
        if self.turns and self.turns[-1].role == "user":
            raise ValueError("a user turn is already waiting for its reply")
        turn = Turn.under(self.in_force, "user", content, images=list(images or ()), outputs=self.outputs[:])
        self.outputs.clear()
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
        turn = self.turns.pop()
        self.outputs[:0] = turn.outputs  # they wait for the next message again
        return turn.content

    def undo(self) -> list[Turn]:
        """Remove the last exchange (the last user turn and the reply to it, if any); return what went."""
        if not self.turns:
            return []
        return self.remove_last(2 if self.turns[-1].role == "assistant" and len(self.turns) >= 2 else 1)

    def remove_last(self, count: int) -> list[Turn]:
        """Remove the last ``count`` turns; return them."""
        count = min(max(count, 0), len(self.turns))
        removed = self.turns[len(self.turns) - count :]
        del self.turns[len(self.turns) - count :]
        self.context_start = min(self.context_start, len(self.turns) // 2 * 2)
        return removed

    def replace_reply(self, turn: Turn) -> None:
        """Put ``turn`` in place of the last reply (a retried or continued reply)."""
        if not self.turns or self.turns[-1].role != "assistant":
            raise ValueError("there is no reply to replace")
        self.turns[-1] = turn

    def fresh(self) -> Conversation:
        """A new, empty conversation with the same settings."""
        return Conversation(in_force=self.in_force)

    @property
    def last_reply(self) -> Turn | None:
        return next((turn for turn in reversed(self.turns) if turn.role == "assistant"), None)

    @property
    def title(self) -> str:
        """The title given to the conversation, else the first words of its first message."""
        return self.named or self.derived_title

    @property
    def derived_title(self) -> str:
        """The title made locally from the first message (no request, no cost)."""
        return next((title_of(turn.content) for turn in self.turns if turn.role == "user"), "")

    def name(self, title: str, by: Titled) -> str:
        """Give the conversation ``title`` (cleaned; empty: go back to the derived one); return what it now is."""
        self.named = clean_title(title)
        self.named_by = by if self.named else None
        return self.title
