"""Imports run one way: generation <- pain3d_dataset <- vitpain_hf <- the pain3d command and the Space.

Every import statement of every library module (at any depth: inside functions and TYPE_CHECKING
blocks too) is read with `ast` and checked against the layers of docs' STYLE "Layers of this project".
evaluate_metrics stands alone; nothing imports the command, the Space or the benchmarks.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# package -> the project packages its modules may import (its own included)
ALLOWED = {
    "generation": {"generation"},
    "pain3d_dataset": {"generation", "pain3d_dataset"},
    "evaluate_metrics": {"evaluate_metrics"},
    "vitpain_hf": {"generation", "pain3d_dataset", "evaluate_metrics", "vitpain_hf"},
    "pain3d": {"generation", "pain3d_dataset", "evaluate_metrics", "vitpain_hf", "pain3d"},
}
TOP = {"spaces", "benchmarks", "app", "table2"} | {p.stem for p in (ROOT / "benchmarks").glob("*.py")}
PROJECT = set(ALLOWED) | TOP


def imported_roots(source: str) -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import in `source`; relative imports stay in their package."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def import_violations(root: Path) -> list[str]:
    """'path:line imports X (layer above)' for each import of a project package a module's layer may not use."""
    problems = []
    for package, allowed in ALLOWED.items():
        for path in sorted((root / package).rglob("*.py")):
            for line, name in imported_roots(path.read_text()):
                if name in PROJECT and name not in allowed:
                    problems.append(f"{path.relative_to(root)}:{line} imports {name}")
    return problems


def test_no_module_imports_from_a_layer_above_its_own():
    assert import_violations(ROOT) == []


def test_every_library_package_is_checked():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages <= set(ALLOWED), f"packages without a layer: {sorted(packages - set(ALLOWED))}"
    assert {"generation", "pain3d_dataset", "vitpain_hf", "pain3d"} <= packages


def test_the_check_finds_upward_imports(tmp_path):
    """The checker itself: upward imports at any depth are found, downward and relative ones are not."""
    files = {
        "generation/ok.py": "import numpy\nfrom . import facs\n",
        "generation/bad.py": "def f():\n    from pain3d_dataset.writer import HubWriter\n",
        "pain3d_dataset/bad.py": "import vitpain_hf\nfrom generation import facs\n",
        "vitpain_hf/bad.py": "if False:\n    from pain3d.cli import main\nimport evaluate_metrics\n",
        "evaluate_metrics/bad.py": "from generation.facs import pspi\n",
        "pain3d/ok.py": "import vitpain_hf, generation, pain3d_dataset\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert import_violations(tmp_path) == [
        "generation/bad.py:2 imports pain3d_dataset",
        "pain3d_dataset/bad.py:1 imports vitpain_hf",
        "evaluate_metrics/bad.py:1 imports generation",
        "vitpain_hf/bad.py:2 imports pain3d",
    ]
