"""The package's layout keeps its promises: stages import only earlier stages, modules stay small,
private names stay private, and the project cites nothing outside the repository."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "rbm_utils"
#: The flow, earliest first. A module may import its own stage or an earlier one.
STAGES = ("core", "intake", "store", "analytics", "publish", "present", "exchange", "serve")
#: Wiring and the sample bureau may import any stage.
FREE = ("demo", "cli")
MAX_LINES = 500
#: What a citation of the steering folder beside the repository looks like (built, so this file cites nothing).
OUTSIDE = tuple(prefix + "shared" + suffix for prefix, suffix in ((".." + "/", ""), ("", "/DESIGN"), ("", "/STACK")))


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _stage(path: Path) -> str:
    rel = path.relative_to(PACKAGE).parts
    return rel[0].removesuffix(".py") if len(rel) > 1 or rel[0] == "cli.py" else ""


def _imported(tree: ast.AST) -> list[tuple[int, str, list[str]]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names]
    return found


def test_every_module_belongs_to_a_stage():
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "cli.py")]
    assert loose == [], f"modules outside the stage folders: {loose}"
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == set(STAGES) | {"demo"}


def test_imports_run_only_from_a_later_stage_to_an_earlier_one():
    wrong = []
    for path in _modules():
        stage = _stage(path)
        if stage in FREE or not stage:
            continue
        for line, module, _names in _imported(ast.parse(path.read_text(encoding="utf-8"))):
            parts = module.split(".")
            if parts[0] != "rbm_utils" or len(parts) < 2 or parts[1] not in STAGES + FREE:
                continue
            target = parts[1]
            if target in FREE or STAGES.index(target) > STAGES.index(stage):
                wrong.append(f"{path.relative_to(ROOT)}:{line} ({stage}) imports {module}")
    assert wrong == []


def test_relative_imports_are_not_used():
    rel = [
        f"{p.relative_to(ROOT)}:{n.lineno}"
        for p in _modules()
        for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if isinstance(n, ast.ImportFrom) and n.level
    ]
    assert rel == []


def test_no_module_outside_demo_is_over_the_size_limit():
    big = {
        str(p.relative_to(ROOT)): n
        for p in _modules()
        if _stage(p) != "demo"
        for n in [len(p.read_text(encoding="utf-8").splitlines())]
        if n > MAX_LINES
    }
    assert big == {}


def test_private_names_stay_private():
    """No module imports another module's _private name or calls ``module._private``."""
    leaks = []
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for line, module, names in _imported(tree):
            if module.startswith("rbm_utils"):
                leaks += [
                    f"{path.relative_to(ROOT)}:{line} imports {module}.{n}"
                    for n in names
                    if n.startswith("_") and not n.startswith("__")
                ]
        imported_modules = {
            a.asname or a.name
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("rbm_utils")
            for a in n.names
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name)
                and node.value.id in imported_modules
            ):
                leaks.append(f"{path.relative_to(ROOT)}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert leaks == []


def test_the_project_cites_nothing_outside_the_repository():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    cited = []
    for name in files:
        p = ROOT / name
        if p.suffix not in {".py", ".md", ".ipynb", ".yml", ".yaml", ".toml", ".txt", ".cfg"} and p.name != "Makefile":
            continue
        if not p.is_file():
            continue
        text = p.read_text(encoding="utf-8", errors="replace")
        if any(needle in text for needle in OUTSIDE):
            cited.append(name)
    assert cited == []


@pytest.mark.parametrize("stage", STAGES + ("demo",))
def test_each_stage_package_says_what_it_owns(stage):
    doc = ast.get_docstring(ast.parse((PACKAGE / stage / "__init__.py").read_text(encoding="utf-8")))
    assert doc and len(doc) > 30
