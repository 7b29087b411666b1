"""The system clipboard, through the platform's own tools: text copied out (:mod:`.copying`, beside the
terminal's OSC 52) and pictures or text read in (:mod:`.reading`, for Ctrl-V and ``/image paste``).

Nothing else in kimi-repl runs a clipboard tool.
"""

from __future__ import annotations

from kimi_repl.clipboard.copying import copy_with_platform_tool, platform_tools
from kimi_repl.clipboard.reading import ClipboardError, Held, clipboard_paste, clipboard_picture, read_clipboard

__all__ = [
    "ClipboardError",
    "Held",
    "clipboard_paste",
    "clipboard_picture",
    "copy_with_platform_tool",
    "platform_tools",
    "read_clipboard",
]
