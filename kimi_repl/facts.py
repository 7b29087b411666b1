"""What a saved conversation says besides its text: the settings that were in force, for the header of the
Markdown and HTML forms, and what changed at a message or marks a reply, for its heading.

Only what was in force is said: no temperature for a model that fixes its own sampling, no thinking choice for a
model that cannot switch it (:mod:`kimi_repl.profile`). The values are plain text; each writer escapes them.
"""

from __future__ import annotations

import time
from typing import NamedTuple

from kimi_repl.conversation import Conversation, Turn
from kimi_repl.profile import ModelProfile, Thinking, profile_for
from kimi_repl.safefiles import byte_size

UNTITLED = "Conversation with Kimi"


class Fact(NamedTuple):
    """One line of a transcript's header: ``label`` and ``value`` (one line, but for a system prompt, which
    ``quoted`` says to show as a quotation)."""

    label: str
    value: str
    quoted: bool = False


def title(conversation: Conversation) -> str:
    """The conversation's title, on one line (:data:`UNTITLED` when it has none)."""
    return " ".join(conversation.title.split()) or UNTITLED


def clock(seconds: float) -> str:
    """A date and time in the local zone, as a header shows it."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def started(conversation: Conversation) -> float:
    """When the conversation began: its first message, else its creation."""
    return conversation.turns[0].created if conversation.turns else conversation.created


def times(conversation: Conversation) -> list[str]:
    """Each turn's time for its heading: the time of day, with the date when it is not the day before it
    (the header's date for the first turn); "" for a time nobody knows."""
    shown, day = [], time.strftime("%Y-%m-%d", time.localtime(started(conversation)))
    for turn in conversation.turns:
        if not turn.created:
            shown.append("")
            continue
        now = time.localtime(turn.created)
        today = time.strftime("%Y-%m-%d", now)
        shown.append(time.strftime("%H:%M:%S" if today == day else "%Y-%m-%d %H:%M:%S", now))
        day = today
    return shown


def _profile(turn: Turn, conversation: Conversation) -> ModelProfile:
    return profile_for(turn.model or conversation.model)


def _requests(conversation: Conversation) -> list[Turn]:
    """The turns that carry the settings a request was sent with (the messages), or one standing for the
    settings now when there is none."""
    asked = [turn for turn in conversation.turns if turn.role == "user"]
    return asked or [Turn.under(conversation.in_force, "user", "")]


def _temperature(profile: ModelProfile, chosen: float | None) -> str:
    sent = profile.temperature_to_send(chosen)
    if sent is None:
        return "model default"
    return f"{sent:g}" if chosen is not None else f"{sent:g} (recommended for {profile.id})"


def facts(conversation: Conversation) -> list[Fact]:
    """What was in force during ``conversation``, in the order a header lists it."""
    turns = _requests(conversation)
    sent = [(turn, _profile(turn, conversation)) for turn in turns]
    models = [credit for turn in conversation.turns if turn.role == "assistant" for credit in _credits(turn)]
    models = list(dict.fromkeys(models or [profile.id for _, profile in sent]))
    said = [
        Fact("Date", clock(started(conversation))),
        Fact("Models" if len(models) > 1 else "Model", ", ".join(models)),
    ]
    temperatures = [_temperature(p, t.temperature) for t, p in sent if not p.fixed_sampling]
    if temperatures:
        said.append(Fact("Temperature", ", ".join(dict.fromkeys(temperatures))))
    thinking = [p.thinking_state(t.thinking) for t, p in sent if p.thinking is Thinking.SWITCHABLE]
    if thinking:
        said.append(Fact("Thinking", ", ".join(dict.fromkeys(thinking))))
    searches = sum(len(turn.searches) for turn in conversation.turns)
    if conversation.web or searches:
        made = f"{searches} search{'es' if searches != 1 else ''} made"
        said.append(Fact("Web search", f"allowed; {made}" if conversation.web else made))
    if conversation.documents:
        sizes = [byte_size(len(d.content.encode("utf-8", "replace"))) for d in conversation.documents]
        names = [f"{' '.join(d.name.split())} ({size})" for d, size in zip(conversation.documents, sizes, strict=True)]
        said.append(Fact("Documents", ", ".join(names)))
    if conversation.context_start:
        said.append(Fact("Not sent any more", f"turns 1 to {conversation.context_start} (/compact)"))
    said.append(Fact("Session", conversation.id))
    return said + _system_prompts(conversation, turns)


def _credits(turn: Turn) -> list[str]:
    return turn.written_by or [turn.model or "unknown model"]


def _system_prompts(conversation: Conversation, turns: list[Turn]) -> list[Fact]:
    """The system prompt of the first message, then each one a later message changed to."""
    prompts, previous = [], None
    for number, turn in enumerate(turns, 1):
        if number > 1 and turn.system == previous:
            continue
        if turn.system or number > 1:
            label = "System prompt" if number == 1 else f"System prompt from message {number}"
            prompts.append(Fact(label, turn.system or "(none)", quoted=bool(turn.system)))
        previous = turn.system
    return prompts


def changes(turn: Turn, previous: Turn | None, conversation: Conversation) -> list[str]:
    """What a message changed from the one before it: its model, and what that model takes of the rest."""
    if previous is None or turn.role != "user":
        return []
    profile = _profile(turn, conversation)
    said = []
    if turn.model != previous.model:
        said.append(f"model → {turn.model or conversation.model}")
    if turn.temperature != previous.temperature and not profile.fixed_sampling:
        said.append(f"temperature → {'default' if turn.temperature is None else f'{turn.temperature:g}'}")
    if turn.system != previous.system:
        said.append("system prompt changed" if turn.system else "system prompt removed")
    if turn.thinking != previous.thinking and profile.thinking is Thinking.SWITCHABLE:
        said.append(f"thinking {profile.thinking_state(turn.thinking)}")
    return said


def marks(turn: Turn) -> list[str]:
    """How a reply ended, when it did not end as the model meant it to."""
    said = [mark for mark, on in (("interrupted", turn.interrupted), ("incomplete", turn.incomplete)) if on]
    if turn.role == "assistant" and turn.finish_reason == "length":
        said.append("cut at its length limit")
    return said
