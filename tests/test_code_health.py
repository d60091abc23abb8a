"""The shape of the code: imports point one way, functions stay short, dataclass fields say what they are.

Static checks over the source (ast), plus the `steptts distill` / `steptts export` entries from the
checkout.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("steptts", "distill", "export")
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, tuple[Path, ast.Module]]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
            modules[name] = (path, ast.parse(path.read_text(encoding="utf-8")))
    return modules


def _imports(name: str, path: Path, tree: ast.Module, known: set[str]) -> set[str]:
    """Modules of ours that ``name`` imports anywhere, inside functions too."""
    found = set()
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1] + [node.module or ""]).strip(".") \
                if node.level else node.module
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        found |= {target for target in targets if target in known and target != name}
    return found


def test_no_import_cycle_among_our_modules():
    modules = _modules()
    graph = {name: _imports(name, path, tree, set(modules)) for name, (path, tree) in modules.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycle = path[path.index(target):] + [target]
                pytest.fail("import cycle: " + " → ".join(cycle))
            if target not in state:
                visit(target, [*path, target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_the_runtime_imports_no_training_code():
    modules = _modules()
    for name, (path, tree) in modules.items():
        if name.split(".")[0] == "steptts":
            wrong = {t for t in _imports(name, path, tree, set(modules)) if t.split(".")[0] != "steptts"}
            assert not wrong, f"{name} imports {wrong}"


def test_no_function_longer_than_80_lines():
    long = []
    for name, (path, tree) in _modules().items():
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = lines[node.lineno - 1: node.end_lineno]
                count = sum(1 for line in body if line.strip() and not line.strip().startswith("#"))
                if count > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {count} lines")
    assert not long, long


def test_every_dataclass_field_is_described():
    bare = []
    for name, (path, tree) in _modules().items():
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(tree):
            if not (isinstance(node, ast.ClassDef)
                    and any("dataclass" in ast.unparse(d) for d in node.decorator_list)):
                continue
            for index, statement in enumerate(node.body):
                if not isinstance(statement, ast.AnnAssign):
                    continue
                after = node.body[index + 1] if index + 1 < len(node.body) else None
                documented = isinstance(after, ast.Expr) and isinstance(getattr(after, "value", None), ast.Constant)
                commented = "#" in lines[statement.end_lineno - 1]
                if not (documented or commented):
                    bare.append(f"{name}.{node.name}.{ast.unparse(statement.target)}")
    assert not bare, bare


@pytest.mark.parametrize(("command", "words"), [("distill", ("data", "train", "eval")), ("export", ("--fp16",))])
def test_source_commands_run_from_the_checkout(command: str, words: tuple[str, ...]):
    done = subprocess.run([sys.executable, "-m", "steptts", command, "--help"], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    for word in words:
        assert word in done.stdout
