"""kimi-repl where the POSIX-only modules do not exist (as on Windows): every module imports, and a one-shot
exchange and a session file work, with ``fcntl``, ``termios``, ``pwd``, ``grp`` and ``resource`` missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.fake import TEST_KEY, FakeMoonshot
from tests.helpers import clean_environment

MISSING = ("fcntl", "termios", "pwd", "grp", "resource", "tty", "pty")

BLOCKER = f"""
import importlib.abc, sys

class NotOnThisPlatform(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {MISSING!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

for name in {MISSING!r}:
    sys.modules.pop(name, None)
sys.meta_path.insert(0, NotOnThisPlatform())
"""


def run_without_posix(home: Path, server: FakeMoonshot, code: str) -> subprocess.CompletedProcess[str]:
    environment = clean_environment(home, MOONSHOT_BASE_URL=server.base_url, MOONSHOT_API_KEY=TEST_KEY)
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + code],
        capture_output=True,
        text=True,
        env=environment,
        cwd=home.parent / "work",
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_every_module_imports_without_the_posix_only_modules(isolated_user: Path, server: FakeMoonshot) -> None:
    code = """
import importlib, pkgutil, kimi_repl
names = [m.name for m in pkgutil.walk_packages(kimi_repl.__path__, "kimi_repl.") if not m.name.endswith("__main__")]
for name in names:
    importlib.import_module(name)
for name in {missing!r}:
    assert name not in sys.modules, name
print("imported", len(names))
""".replace("{missing!r}", repr(MISSING))
    result = run_without_posix(isolated_user, server, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("imported ")


def test_a_one_shot_exchange_and_its_session_work_without_them(isolated_user: Path, server: FakeMoonshot) -> None:
    code = """
from kimi_repl.cli import run
sys.argv = ["kimi-repl", "-p", "hello there"]
run()
"""
    first = run_without_posix(isolated_user, server, code)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip(), "a reply was printed"
    again = run_without_posix(isolated_user, server, code.replace('"-p"', '"-c", "-p"'))
    assert again.returncode == 0, again.stderr
    sent = server.chat_requests()[-1]["messages"]
    assert [m["content"] for m in sent if m["role"] == "user"] == ["hello there", "hello there"]
    assert "Traceback" not in first.stderr + again.stderr
