"""Saved sessions listed on a display: for /sessions and for ``kimi-repl --sessions``."""

from __future__ import annotations

import time
from pathlib import Path

from kimi_repl.display import Display
from kimi_repl.sessions import SessionInfo, SessionStore

SESSIONS_SHOWN = 20


PROBLEMS_SHOWN = 3


def report_passed_over(display: Display, problems: list[str], what: str) -> None:
    """Say why session files were passed over: a line each, or one line for them all when there are many."""
    if len(problems) <= PROBLEMS_SHOWN:
        for problem in problems:
            display.warning(f"⚠ {what}: {problem}")
    else:
        display.warning(f"⚠ {what}: {len(problems)} session files, such as this one: {problems[0]}")


def _when(modified: float) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(modified))
    except (OverflowError, OSError, ValueError):  # a time no calendar holds (a file's, set by anyone)
        return "?"


def relation(info: SessionInfo) -> str:
    """Where a session branched from, in a few words ("" for one started afresh)."""
    origin = info.origin
    if origin is None:
        return ""
    if origin.how == "fork":
        return f"fork of {origin.id}"
    return f"from {origin.id} at turn {origin.turns + 1}"


def show_sessions(
    display: Display, store: SessionStore, words: list[str], *, current: str = "", shell: bool = False
) -> list[Path]:
    """The recent sessions, or those in which every one of ``words`` appears (with the line that matches); then
    why any file was passed over. Returns the sessions listed, in their numbered order (what a number names).

    Args:
        shell: listed for ``kimi-repl --sessions`` (a number there names the plain list: ids are shown to type).
    """
    how = ("-r ID" if words else "-r NUMBER or ID") if shell else "/resume NUMBER or ID"
    if words:
        found = store.scan_for(words, SESSIONS_SHOWN)
        problems = found.problems
        if not found.sessions:
            display.info(f"No session mentions {' and '.join(repr(w) for w in words)}.")
            report_passed_over(display, problems, "Not searched")
            return []
        title = f"Sessions that mention {' and '.join(repr(w) for w in words)} ({how})"
        infos, lines = [info for info, _ in found.sessions], [line for _, line in found.sessions]
    else:
        listing = store.scan(SESSIONS_SHOWN)
        infos, problems = listing.sessions, listing.problems
        if not infos:
            display.info("No saved sessions yet." if not problems else "No saved session can be listed.")
            report_passed_over(display, problems, "Not listed")
            return []
        title, lines = f"Sessions ({how})", [info.title for info in infos]
    rows = []
    width = len(str(len(infos)))
    for number, (info, line) in enumerate(zip(infos, lines, strict=True), 1):
        when = _when(info.modified)
        mark = " ←" if info.id == current else ""
        branch = relation(info)
        line = f"{line} ({branch})" if branch else line
        rows.append((str(number).rjust(width), info.id + mark, when, f"{info.turns} turns", info.model, line))
    display.rows(rows, title=title)
    if not words and len(infos) == SESSIONS_SHOWN:
        more = sum(1 for _ in store.paths()) - SESSIONS_SHOWN
        if more > 0:
            search = "--sessions WORDS" if shell else "/sessions WORDS"
            display.note(f"… and {more} older session file{'s' if more != 1 else ''} ({search} finds them).")
    report_passed_over(display, problems, "Not searched" if words else "Not listed")
    return [info.path for info in infos]
