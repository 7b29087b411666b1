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


def run_without_posix(
    home: Path, server: FakeMoonshot, code: str, *, before: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with the POSIX-only modules missing (``before`` runs first, with them)."""
    environment = clean_environment(home, MOONSHOT_BASE_URL=server.base_url, MOONSHOT_API_KEY=TEST_KEY)
    return subprocess.run(
        [sys.executable, "-c", before + BLOCKER + code],
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


def test_a_repl_session_works_without_them(isolated_user: Path, server: FakeMoonshot) -> None:
    """The REPL loop, keys in through prompt_toolkit's pipe input. On Linux prompt_toolkit's own terminal input
    needs termios, so it is loaded first; then the POSIX-only modules are made unavailable to everything that
    imports them afterwards: all of kimi-repl."""
    before = "import prompt_toolkit.input.posix_pipe\n"
    code = """
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
for name in {missing!r}:
    sys.modules[name] = None  # 'import termios' now fails, as on Windows
import kimi_repl.cli, kimi_repl.repl
from kimi_repl.cli import run
with create_pipe_input() as keys:
    keys.send_text("hello from a pipe\\r/exit\\r")
    import kimi_repl.repl as repl_module
    original = repl_module.Repl.__init__
    def with_pipe(self, *args, **kwargs):
        kwargs.update(input=keys, output=DummyOutput())
        original(self, *args, **kwargs)
    repl_module.Repl.__init__ = with_pipe
    sys.argv = ["kimi-repl"]
    sys.stdin.isatty = lambda: True
    sys.stdout.isatty = lambda: True
    run()
""".replace("{missing!r}", repr(MISSING))
    result = run_without_posix(isolated_user, server, code, before=before)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stderr
    assert [m["content"] for m in server.chat_requests()[-1]["messages"]] == ["hello from a pipe"]
