"""Going back and branching: /rewind goes back to before one of the user's messages, /fork copies the whole
conversation; either way the conversation goes on in a new session that records where it came from, and the
session it left keeps every turn it had (nothing is deleted)."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from kimi_repl.conversation import Conversation, InForce
from kimi_repl.identity import Origin

if TYPE_CHECKING:
    from kimi_repl.chat.core import Chat


class Branched(NamedTuple):
    """The conversation went on in a new session.

    Attributes:
        parent: the session left (it keeps all its turns).
        turns: how many of its turns came along.
        message: the message gone back to (/rewind), to edit and send again; "" for /fork.
        pictures: pictures that came along with it, waiting for the next message.
    """

    parent: str
    session: str
    turns: int
    message: str
    pictures: int


def user_turns(conversation: Conversation) -> list[int]:
    """The indexes of the user's messages in ``conversation.turns``."""
    return [index for index, turn in enumerate(conversation.turns) if turn.role == "user"]


def _branch(old: Conversation, kept: int, in_force: InForce, how: str) -> Conversation:
    """A new conversation holding ``old``'s first ``kept`` turns, the documents it had by then, and ``in_force``."""
    origin = Origin(old.id, kept, "rewind" if how == "rewind" else "fork")
    branch = Conversation(
        in_force=in_force,
        turns=old.turns[:kept],
        documents=[document for document in old.documents if document.turn <= kept],
        context_start=min(old.context_start, kept) // 2 * 2,
        origin=origin,
    )
    if kept:
        branch.named, branch.named_by = old.named, old.named_by
    return branch


def rewind(chat: Chat, index: int) -> Branched:
    """Go back to just before the user's message ``turns[index]``: the turns before it go on in a new session,
    with the settings that message was sent with, the documents there were then, and its pictures and shell
    output attached again; the message itself is given back (:class:`~kimi_repl.chat.outcomes.MessageReturned`)
    to edit and send.

    Raises:
        ValueError: ``index`` is not one of the user's messages.
    """
    old = chat.conversation
    if index not in user_turns(old):
        raise ValueError(f"turn {index + 1} is not one of the user's messages")
    message = old.turns[index]
    in_force = InForce(message.model or old.model, message.temperature, message.system, message.thinking, old.web)
    branch = _branch(old, index, in_force, "rewind")
    branch.outputs = list(message.outputs)
    chat.adopt(branch, pending=message.content, new_id=False)
    pictures = [image for image in message.images if image.data]  # a transcript may have kept only the name
    chat.attachments[:] = pictures
    return Branched(old.id, branch.id, index, message.content, len(pictures))


def fork(chat: Chat) -> Branched:
    """Copy the whole conversation into a new session and go on there (what waits for the next message comes
    along)."""
    old = chat.conversation
    pictures = list(chat.attachments)
    chat.attachments.clear()  # they come along: none is left behind
    branch = _branch(old, len(old.turns), old.in_force, "fork")
    branch.outputs = list(old.outputs)
    chat.adopt(branch, new_id=False)
    chat.attachments[:] = pictures
    return Branched(old.id, branch.id, len(old.turns), "", len(pictures))
