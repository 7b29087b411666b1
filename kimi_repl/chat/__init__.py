"""The chat core: a conversation, what the user attached, and the verbs that change them (:class:`Chat`).

It decides and reports typed outcomes; it never words them nor touches the terminal (see
:mod:`kimi_repl.narrator` for the sentences and :mod:`kimi_repl.repl` for the loop).
"""

from __future__ import annotations

from kimi_repl.chat.attached import MAX_PICTURES_BYTES
from kimi_repl.chat.core import Chat, message_text
from kimi_repl.chat.replier import ReplyFailed

__all__ = ["MAX_PICTURES_BYTES", "Chat", "ReplyFailed", "message_text"]
