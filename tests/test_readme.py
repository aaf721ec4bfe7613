"""Every ```python and ```sh block of the docs runs as written, against local servers.

The docs name placeholder hosts; the test swaps each for a local server before running a
block: ``https://example.org`` and ``https://a.example`` are one HTTP server,
``https://b.example`` a second one, ``ftp://archive.example``, ``ftp://c.example`` and
``ftp://user:pass@mirror.example:2121`` one FTP server (its login alice:wonder). Python
blocks run with top-level ``await`` and these names defined: ``aiodl``, ``contextlib``,
``urls()`` (a generator of local URLs) and ``record(...)`` (keeps what it is given). Shell
blocks run under ``bash -e`` in a scratch folder holding the input files they name
(``urls.txt``, ``artifacts.txt``), with ``aiodl`` on PATH. A block that cannot run here
(an install) has ``<!-- not run: why -->`` on the line before its fence.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import hashlib
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import aiodl
from tests.servers.ftp import RunningFTP
from tests.servers.http import FaultServer

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md"]  # docs/*.md join this list as they are written
MOST_NOT_RUN = 3  # installs only: every other block must run
FENCE = re.compile(
    r"(?:^<!-- not run: (?P<why>[^\n]*) -->\n)?^```(?P<lang>python|sh|bash)\n(?P<code>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)
DATA = {name: os.urandom(size) for name, size in [("a.iso", 300_000), ("b.iso", 2000), ("b", 1000)]}
BIG = os.urandom(3 << 20)
TREE = {"jma/hsd/x.bz2": b"bz2 x", "jma/hsd/2026/y.bz2": b"bz2 y", "jma/hsd/tmp/t.txt": b"t"}


@dataclass(frozen=True)
class Block:
    doc: str
    line: int
    lang: str
    code: str
    not_run: str | None

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}"


def blocks(doc: Path) -> Iterator[Block]:
    text = doc.read_text(encoding="utf-8")
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start("lang")) + 1
        yield Block(doc.name, line, match["lang"], match["code"], match["why"])


ALL = [block for doc in DOCS for block in blocks(doc)]


def test_the_docs_mark_few_blocks_not_run() -> None:
    assert ALL, "no code blocks found"
    assert sum(block.not_run is not None for block in ALL) <= MOST_NOT_RUN


@pytest.fixture
def hosts(http_server: FaultServer, other_server: FaultServer, ftp: RunningFTP) -> dict[str, str]:
    """The placeholder hosts of the docs -> local servers serving what the docs fetch."""
    for name, data in DATA.items():
        http_server.add(name, data)
    sums = "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in DATA.items())
    http_server.add("SHA256SUMS", sums.encode())
    http_server.add("big.iso", BIG)
    other_server.add("big.iso", BIG)
    for path, data in {**TREE, "pub/big.iso": BIG, "iso/big.iso": BIG}.items():
        target = ftp.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    http, other = http_server.url("").rstrip("/"), other_server.url("").rstrip("/")
    ftp_url = ftp.url("").rstrip("/")
    return {
        "https://example.org": http,
        "https://a.example": http,
        "https://b.example": other,
        "ftp://user:pass@mirror.example:2121": ftp_url.replace("ftp://", "ftp://alice:wonder@"),
        "ftp://c.example": ftp_url,
        "ftp://archive.example": ftp_url,
    }


def localize(code: str, hosts: dict[str, str]) -> str:
    for placeholder, local in hosts.items():
        code = code.replace(placeholder, local)
    assert ".example" not in code, f"a placeholder host is not mapped: {code}"
    return code


@pytest.mark.anyio
@pytest.mark.parametrize("block", [b for b in ALL if b.not_run is None], ids=str)
async def test_doc_block_runs(
    block: Block, hosts: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))  # netrc=True reads this ~/.netrc: none
    local = [f"{hosts['https://example.org']}/{name}" for name in DATA]
    (tmp_path / "urls.txt").write_text("".join(url + "\n" for url in local))
    (tmp_path / "artifacts.txt").write_text(local[0] + "\n")
    code = localize(block.code, hosts)
    if block.lang == "python":
        await run_python(code, local)
    else:
        await run_shell(code, tmp_path)


async def run_python(code: str, local: list[str]) -> None:
    recorded: list[tuple[Any, ...]] = []

    def urls() -> Iterator[str]:
        yield from local

    async def record(*values: Any) -> None:
        recorded.append(values)

    names = {"aiodl": aiodl, "contextlib": contextlib, "urls": urls, "record": record}
    compiled = compile(code, "<doc>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    outcome = eval(compiled, names)
    if asyncio.iscoroutine(outcome):
        await outcome
    for value in names.values():
        if isinstance(value, list) and value and isinstance(value[0], aiodl.Result):
            assert all(result.ok for result in value), value


async def run_shell(code: str, folder: Path) -> None:
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    (bin_dir / "aiodl").write_text(f'#!/bin/sh\nexec {sys.executable} -m aiodl "$@"\n')
    (bin_dir / "aiodl").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
    process = await asyncio.create_subprocess_exec(
        "bash", "-e", "-o", "pipefail", "-c", code,
        cwd=folder, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), timeout=300)
    assert process.returncode == 0, out.decode(errors="replace")
