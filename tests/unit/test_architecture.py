"""The shape of the code, checked: small modules and classes, one-way imports, a core that never speaks.

docs/architecture.md describes the layers; these tests keep it true.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "kimi_repl"
MAX_MODULE_LINES = 450
MAX_CLASS_LINES = 300

TERMINAL = (
    "__main__",
    "cli",
    "repl",
    "replstate",
    "commands",
    "narrator",
    "listing",
    "display",
    "render",
    "markdown",
    "blocks",
    "highlight",
    "segments",
    "editor",
    "clipboard",
    "pastes",
    "history",
    "terminal",
    "choosing",
    "picker",
    "sessionpicker",
)
"""The shell: what reads keys or writes the screen. Everything else is the core and never imports these."""


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def top_level_imports(name: str, path: Path) -> set[str]:
    """The kimi_repl modules ``name`` imports when it is imported (not inside functions, not for typing)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("kimi_repl")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.startswith("kimi_repl"):
                found.add(target)
                found |= {f"{target}.{alias.name}" for alias in node.names}
    known = modules()
    return {item for item in found if item in known and item != name}


def layer(name: str) -> str:
    first = name.split(".")[1] if "." in name else ""
    return "terminal" if first in TERMINAL else "core"


@pytest.mark.parametrize("name", sorted(modules()))
def test_every_module_reads_in_one_sitting(name: str) -> None:
    path = modules()[name]
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.relative_to(ROOT)} has {lines} lines"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ClassDef):
            size = (node.end_lineno or node.lineno) - node.lineno + 1
            assert size <= MAX_CLASS_LINES, f"class {node.name} in {path.relative_to(ROOT)} has {size} lines"


def test_the_core_never_imports_the_terminal_side() -> None:
    wrong = [
        f"{name} imports {target}"
        for name, path in modules().items()
        if layer(name) == "core"
        for target in sorted(top_level_imports(name, path))
        if layer(target) == "terminal"
    ]
    assert not wrong


def test_imports_have_no_cycles() -> None:
    graph = {name: top_level_imports(name, path) for name, path in modules().items()}
    graph = {name: {t for t in targets if not name.startswith(t + ".")} for name, targets in graph.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycles.append([*trail[trail.index(target) :], target] if target in trail else [node, target])
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, cycles[:3]


def test_the_chat_core_writes_no_sentences_to_a_screen() -> None:
    core = [path for name, path in modules().items() if name.startswith("kimi_repl.chat")]
    assert core, "kimi_repl/chat is the chat core"
    for path in core:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\bdisplay\.\w+\(", text), f"{path.relative_to(ROOT)} calls the display"


def test_nothing_refers_to_files_outside_the_repository() -> None:
    outside = re.compile(r"shared/moonshot-api|\.\./shared|shared/STYLE")
    checked = [*ROOT.glob("kimi_repl/**/*.py"), *ROOT.glob("tests/**/*.py"), *ROOT.glob("bench/*.py")]
    checked += [*ROOT.glob("docs/*.md"), ROOT / "README.md", ROOT / "pyproject.toml"]
    checked.remove(Path(__file__).resolve())  # this test names what it looks for
    assert not [str(p.relative_to(ROOT)) for p in checked if outside.search(p.read_text(encoding="utf-8"))]
