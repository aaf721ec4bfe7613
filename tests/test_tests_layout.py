"""The tests keep their layout: each folder under tests/ is named for the aiodl sub-package
it tests (faults/ holds the fault catalogue across them), and shared helpers live in the
``testing`` package, so no test, conftest or benchmark imports a test module."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTS, BENCHMARKS, TESTING = ROOT / "tests", ROOT / "benchmarks", ROOT / "testing"
# tests/FOLDER -> the aiodl sub-package it tests.
FOLDERS = {
    "core": "_core",
    "pacing": "_pacing",
    "disk": "_disk",
    "network": "_network",
    "http": "_protocols/http",
    "ftp": "_protocols/ftp",
    "cli": "_cli",
}
ACROSS = {"faults"}  # folders that cut across the packages on purpose


def imported(path: Path) -> set[str]:
    """Top-level names ``path`` imports; a relative import counts as its own package's."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                names.add(path.relative_to(ROOT).parts[0])
            elif node.module:
                names.add(node.module.partition(".")[0])
    return names


def modules(root: Path) -> list[Path]:
    return sorted(root.rglob("*.py"))


@pytest.mark.parametrize("path", modules(TESTS), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_test_imports_a_test_module(path: Path) -> None:
    names = imported(path)
    assert "tests" not in names, (
        f"{path.relative_to(ROOT)} imports from tests/: move what it shares into testing/"
    )
    unknown = {
        name
        for name in names
        if name not in sys.stdlib_module_names
        and name not in {"aiodl", "testing", "__future__"}
        and importlib.util.find_spec(name) is None
    }
    assert not unknown, f"{path.relative_to(ROOT)} imports {sorted(unknown)}: not installed"


@pytest.mark.parametrize(
    "path", modules(BENCHMARKS) + modules(TESTING), ids=lambda p: str(p.relative_to(ROOT))
)
def test_benchmarks_and_testing_never_import_tests(path: Path) -> None:
    assert "tests" not in imported(path), (
        f"{path.relative_to(ROOT)} imports from tests/: its servers and helpers are in testing/"
    )


def test_every_test_folder_is_named_for_a_sub_package() -> None:
    folders = {p.name for p in TESTS.iterdir() if p.is_dir() and p.name != "__pycache__"}
    strays = folders - FOLDERS.keys() - ACROSS
    assert not strays, f"tests/{sorted(strays)} match no aiodl sub-package: {FOLDERS}"
    for folder in folders:
        assert (TESTS / folder / "__init__.py").is_file(), f"tests/{folder}/ lacks __init__.py"
    for package in FOLDERS.values():
        assert (ROOT / "aiodl" / package / "__init__.py").is_file(), f"aiodl/{package} is gone"
