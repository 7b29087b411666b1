"""Many session files, written quickly: for the picker's tests and ``bench/picker.py``.

The files are written as kimi-repl writes them (format version 3: a header, a settings record, an optional title,
the turns), but straight to disk in one go each, without the log's lock and syncs: two thousand take a fraction of
a second.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

from kimi_repl.identity import Origin
from kimi_repl.sanitize import json_dumps

TOPICS = ["kernel", "scheduler", "latency", "rust", "python", "async", "cache", "vector", "sqlite", "regex"]
CHINESE = ["内存管理", "索引优化", "并发编程", "向量数据库", "正则表达式", "缓存策略", "调度器设计", "异步任务"]
MODELS = ["kimi-k2.6", "kimi-k2.5", "moonshot-v1-32k", "moonshot-v1-8k", "kimi-k2-thinking"]
ANSWER = (
    "## On {topic}\n\nA paragraph about **{topic}** and its trade-offs, 中文也有。\n\n"
    + "- a point\n- another point\n\n```python\nprint('hello')\n```\n" * 3
)


def sessions_folder(home: Path) -> Path:
    """The sessions folder under ``home``, made as kimi-repl makes it (only the user's)."""
    folder = home / ".local" / "share" / "kimi-repl" / "sessions"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    for made in (folder, *folder.parents):
        if home in made.parents:
            made.chmod(0o700)
    return folder


def write_session(
    folder: Path,
    session_id: str,
    questions: list[str],
    *,
    model: str = "kimi-k2.6",
    title: str = "",
    system: str | None = None,
    origin: Origin | None = None,
    answer_chars: int = 0,
    modified: float | None = None,
) -> Path:
    """One session file: each question answered (a short echo, or ``answer_chars`` of markdown)."""
    now = time.time() if modified is None else modified
    header: dict[str, Any] = {"event": "session", "format": "kimi-repl-session", "version": 3, "id": session_id}
    if origin is not None:
        header["origin"] = origin._asdict()  # as the writer puts it
    header["created"] = now
    records: list[dict[str, Any]] = [
        header,
        {"event": "settings", "model": model, "temperature": None, "system": system, "thinking": None, "web": False},
    ]
    if title:
        records.append({"event": "title", "title": title, "by": "user"})
    for number, question in enumerate(questions, 1):
        topic = TOPICS[number % len(TOPICS)]
        reply = (ANSWER.format(topic=topic) * (answer_chars // 200 + 1))[:answer_chars] or f"Echo {number}: {question}"
        records.append({"event": "turn", "role": "user", "content": question, "created": now})
        records.append(
            {
                "event": "turn",
                "role": "assistant",
                "content": reply,
                "created": now,
                "reasoning_content": "",
                "finish_reason": "stop",
                "interrupted": False,
                "incomplete": False,
                "usage": {"prompt_tokens": 10 * number, "completion_tokens": 20, "total_tokens": 10 * number + 20},
                "spent": None,
                "finished": None,
            }
        )
    path = folder / f"{session_id}.jsonl"
    path.write_text("".join(json_dumps(record) + "\n" for record in records), encoding="utf-8")
    path.chmod(0o600)
    os.utime(path, (now, now))
    return path


def write_many(folder: Path, count: int, *, seed: int = 7, huge: int = 0, answer_chars: int = 600) -> list[Path]:
    """``count`` sessions like a person's after a year or two: most a few turns, some long, one in four with a
    Chinese title, one in ten branched from an older one, times spread over the last 400 days (one a day or so,
    the newest a few minutes old); and ``huge`` of them of about 4 MB each. Newest first."""
    chance = random.Random(seed)
    now = time.time()
    paths = []
    for number in range(count):
        modified = now - 120 - number * 400 * 86400 / max(count, 1) - chance.random() * 60
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(modified))
        session_id = f"{stamp}-{number:04x}"
        topic = TOPICS[number % len(TOPICS)]
        if number % 4 == 1:
            first = f"{CHINESE[number % len(CHINESE)]}：{topic} 的问题 {number}"
        else:
            first = f"How do I tune the {topic} in project {number}?"
        turns = chance.choice([1, 2, 3, 5, 8, 12, 20, 40]) if number >= huge else 10
        questions = [first] + [f"And what about {TOPICS[(number + n) % len(TOPICS)]} {n}?" for n in range(1, turns)]
        branched = Origin(f"older-{number + 1:04x}", 1, "fork") if number % 10 == 3 else None
        paths.append(
            write_session(
                folder,
                session_id,
                questions,
                model=MODELS[number % len(MODELS)],
                title=f"Notes on {topic} {number}" if number % 7 == 0 else "",
                system="Be brief." if number % 3 == 0 else None,
                origin=branched,
                answer_chars=400_000 if number < huge else answer_chars,
                modified=modified,
            )
        )
    return paths
