"""The layout keeps its rules: each sub-package (and each foundation module) says in its
docstring what it may import, and its modules import nothing else of aiodl; pure modules
do no I/O; ``import aiodl`` stays light; no module grows past ~400 lines.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "aiodl"
# The public face may use anything below it.
PUBLIC = {"aiodl", "aiodl.__main__", "aiodl._api", "aiodl._progress", "aiodl.distributed"}
PUBLIC_PACKAGES = ("aiodl._cli",)
NO_RULE = {"aiodl._version"}  # imports nothing
# What a pure module (its docstring says so) must never import: these do I/O or keep time.
IO_MODULES = {
    "asyncio", "socket", "os", "ssl", "sqlite3", "threading", "subprocess", "selectors",
    "time", "fcntl", "ctypes", "aiohttp", "aiohappyeyeballs", "shutil", "tempfile",
}  # fmt: skip
MAX_LINES = 410  # "modules under ~400 lines"


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    tree: ast.Module

    @property
    def package(self) -> str:
        return self.name if self.path.name == "__init__.py" else self.name.rpartition(".")[0]

    def imports(self, *, typing: bool = True) -> set[str]:
        """Every module this one imports, absolute, function-level imports included
        (and those under ``if TYPE_CHECKING:`` unless ``typing`` is False)."""
        skipped = set() if typing else _type_only(self.tree)
        found = set()
        for node in ast.walk(self.tree):
            if node in skipped:
                continue
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                found.add(_absolute(self.package, node.level, node.module))
        return found

    def aiodl_imports(self) -> set[str]:
        return {name for name in self.imports() if name.split(".")[0] == "aiodl"}


def _type_only(tree: ast.Module) -> set[ast.AST]:
    """The import statements under ``if TYPE_CHECKING:``: annotations only, never run."""
    return {
        child
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
        for statement in node.body
        for child in ast.walk(statement)
    }


def _absolute(package: str, level: int, module: str | None) -> str:
    if not level:
        return module or ""
    parts = package.split(".")
    base = parts[: len(parts) - (level - 1)]
    return ".".join([*base, *([module] if module else [])])


def _modules() -> list[Module]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.append(Module(".".join(parts), path, ast.parse(path.read_text())))
    return found


MODULES = _modules()
BY_NAME = {module.name: module for module in MODULES}


def allowed(text: str) -> set[str] | None:
    """The ``May import:`` list of a docstring (an empty set for "nothing of aiodl")."""
    match = re.search(r"May import:(.*?)(?:\n\n|$)", text, re.DOTALL)
    if match is None:
        return None
    listed = match.group(1).strip()
    return set() if listed == "nothing of aiodl" else set(re.split(r"[,\s]+", listed))


def rule_of(module: Module) -> tuple[str, set[str]]:
    """Where the module's rule is (itself, or its nearest package) and what it allows."""
    scope = module.name
    while scope != "aiodl":
        owner = BY_NAME.get(scope)
        if owner is not None:
            listed = allowed(ast.get_docstring(owner.tree) or "")
            if listed is not None:
                return scope, listed
        scope = scope.rpartition(".")[0]
    raise AssertionError(f"{module.name}: no 'May import:' in its docstring or its package's")


def is_public(name: str) -> bool:
    return name in PUBLIC or name.startswith(PUBLIC_PACKAGES)


RULED = [m for m in MODULES if not is_public(m.name) and m.name not in NO_RULE]


@pytest.mark.parametrize("module", RULED, ids=lambda module: module.name)
def test_a_module_imports_only_what_its_rule_allows(module: Module) -> None:
    scope, listed = rule_of(module)
    for name in module.aiodl_imports():
        inside = name == scope or name.startswith(scope + ".")
        permitted = any(name == allow or name.startswith(allow + ".") for allow in listed)
        assert inside or permitted, f"{module.name} imports {name}; {scope} allows {listed}"


def test_every_sub_package_says_what_it_may_import() -> None:
    for module in MODULES:
        if module.path.name == "__init__.py" and not is_public(module.name):
            assert allowed(ast.get_docstring(module.tree) or "") is not None, module.name


def test_protocol_packages_never_import_each_other() -> None:
    for module in MODULES:
        for mine, other in (("http", "ftp"), ("ftp", "http")):
            if module.name.startswith(f"aiodl._protocols.{mine}"):
                assert not any(
                    name.startswith(f"aiodl._protocols.{other}") for name in module.imports()
                ), module.name


def test_only_the_driver_registry_of_the_run_names_a_protocol() -> None:
    """The run knows the driver interface; one module makes the drivers."""
    for module in MODULES:
        if module.name.startswith("aiodl._core") and module.name != "aiodl._core.drivers":
            protocols = [
                name
                for name in module.imports()
                if name.startswith(("aiodl._protocols.http", "aiodl._protocols.ftp"))
            ]
            assert not protocols, f"{module.name} imports {protocols}"


def test_nothing_below_the_run_imports_the_run() -> None:
    for module in MODULES:
        if module.name.startswith("aiodl._core") or is_public(module.name):
            continue
        assert not any(name.startswith("aiodl._core") for name in module.imports()), module.name


_PURE = re.compile(r"\b[Pp]ure (logic|functions|values|arithmetic)\b")
PURE = [m for m in MODULES if _PURE.search(ast.get_docstring(m.tree) or "")]


def test_the_pure_modules_are_known() -> None:
    """Guards the next test against a docstring that stops saying it."""
    assert {"aiodl._disk.names", "aiodl._protocols.http.wire", "aiodl._core.planner"} <= {
        module.name for module in PURE
    }


@pytest.mark.parametrize("module", PURE, ids=lambda module: module.name)
def test_a_pure_module_does_no_io(module: Module) -> None:
    """No module that does I/O, of the stdlib or of aiodl (a pure module may use other
    pure ones, the error tree, URL rules and masking)."""
    pure = {m.name for m in PURE} | {"aiodl._exceptions", "aiodl._urls", "aiodl._credentials"}
    for name in module.imports(typing=False):
        assert name.split(".")[0] not in IO_MODULES, f"{module.name} imports {name}"
        if name.startswith("aiodl"):
            assert name in pure, f"{module.name} imports {name}, which is not pure"


def test_import_aiodl_loads_only_the_public_face() -> None:
    """``import aiodl`` loads the value objects and the coroutines' module, not the run,
    the disk, the protocols, SQLite, ctypes, aiohttp or rich: those come with a call."""
    code = "import sys, aiodl; print('\\n'.join(sorted(sys.modules)))"
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                text=True, check=True).stdout.split())  # fmt: skip
    heavy = {"sqlite3", "ctypes", "aiohttp", "rich"} & loaded
    assert not heavy
    for package in ("_core", "_disk", "_protocols", "_network", "_cli"):
        assert not {name for name in loaded if name.startswith(f"aiodl.{package}")}, package


@pytest.mark.parametrize("module", MODULES, ids=lambda module: module.name)
def test_no_module_grows_past_about_400_lines(module: Module) -> None:
    lines = len(module.path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{module.path.name} has {lines} lines: split it by concern"
