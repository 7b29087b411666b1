"""The narrator: the one place where what happened becomes sentences for the user.

The chat core reports typed outcomes and failures; the narrator words them, for a prompt (slash-commands,
"↑ brings your message back") or for a one-shot run (flags and shell commands).
"""

from __future__ import annotations

from kimi_repl.conversation import Usage
from kimi_repl.planner import short_tokens


def usage_line(usage: Usage, window: int | None, *, thinking: str = "", searches: int = 0) -> str:
    """The dim line after a reply: ``↑ 1.2k prompt · ↓ 80 completion (40 reasoning) · 512 cached · thinking on
    · 1.3k / 256k context (1%)``.

    Args:
        thinking: the model's thinking label (``thinking on``), for models that think.
        searches: web searches the reply ran.
    """
    completion = f"↓ {short_tokens(usage.completion)} completion"
    if usage.reasoning:
        completion += f" ({short_tokens(usage.reasoning)} reasoning)"
    parts = [f"↑ {short_tokens(usage.prompt)} prompt", completion]
    if usage.cached:
        parts.append(f"{short_tokens(usage.cached)} cached")
    if thinking:
        parts.append(thinking)
    if searches:
        parts.append(f"{searches} web search{'es' if searches != 1 else ''}")
    if window:
        parts.append(
            f"{short_tokens(usage.total)} / {short_tokens(window)} context ({100 * usage.total / window:.0f}%)"
        )
    return " · ".join(parts)
