"""The package layering of the README holds: imports go one direction only.

``terminal`` may import everything; ``vision``, ``payments`` and ``hardware`` never import each
other or ``terminal``; ``backend`` imports ``payments`` only, and only the emulator and the CLI
(the places that start it) import ``backend``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("terminal", "vision", "payments", "hardware", "backend")
ALLOWED: dict[str, set[str]] = {
    "vision": set(),
    "payments": set(),
    "hardware": set(),
    "backend": {"payments"},
    "terminal": {"vision", "payments", "hardware", "backend"},
}
# Inside terminal, only these places may start the back end.
BACKEND_IMPORTERS = ("terminal/emulator/", "terminal/cli/", "terminal/bench/")


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update(name.split(".")[0] for name in names)
    return found & set(PACKAGES)


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_only_what_its_layer_allows(package: str) -> None:
    offenders = []
    for path in _sources(package):
        extra = _imported_packages(path) - ALLOWED[package] - {package}
        if extra:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(extra)}")
    assert offenders == []


def test_only_the_emulator_cli_and_benchmarks_start_the_backend() -> None:
    offenders = []
    for path in _sources("terminal"):
        rel = path.relative_to(ROOT).as_posix()
        if "backend" in _imported_packages(path) and not rel.startswith(BACKEND_IMPORTERS):
            offenders.append(rel)
    assert offenders == []


def test_the_layer_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from terminal.errors import TerminalError\nimport vision.qr\n")
    assert _imported_packages(bad) == {"terminal", "vision"}
