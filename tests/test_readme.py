"""Every ```python and ```sh block of the docs runs as written, against local servers.

The docs are README.md, SECURITY.md and every docs/*.md (a glob: a new doc is covered).
They name placeholder hosts; the test swaps each for a local server before running a
block (``HOSTS`` below): ``https://example.org`` and ``https://a.example`` are one HTTP
server, ``https://b.example`` a second one, ``https://data.example`` nginx serving a folder
tree with its autoindex pages (``WEB_TREE``), ``ftp://archive.example``, ``ftp://c.example``
and ``ftp://user:pass@ftp.example:2121`` one FTP server (its login alice:wonder).

Python blocks run with top-level ``await`` (a block calling ``asyncio.run`` runs in a
thread, with a loop of its own) and these names defined: ``aiodl``,
``contextlib``, ``urls()`` (a generator of local URLs) and ``record(...)`` (keeps what it
is given). Shell blocks run under ``bash -e -o pipefail`` in a scratch folder holding the
input files they name (``urls.txt``, ``artifacts.txt``, ``mirrors.txt``), with ``aiodl``
on PATH.

A block passes only if what it downloads is right: a shell block must exit 0 (the
command exits 1 when any file failed); in a Python block, every Result that
``download_many``, ``stream`` or ``download`` hands it must be ok, and a block that calls
one of them must get at least one Result. A block that shows a failure on purpose says
so with ``<!-- fails: why -->`` on the line before its fence (it must still end, and
produce at least one failed Result); a block that cannot run here (an install) has
``<!-- not run: why -->`` there.
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import contextlib
import hashlib
import os
import random
import re
import sys
import types
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import aiodl
from testing.servers import autoindex
from testing.servers.ftp import RunningFTP
from testing.servers.http import FaultServer

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", ROOT / "SECURITY.md", *sorted((ROOT / "docs").glob("*.md"))]
# Installs only (pip, make demo/test): every other block must run. The count is checked
# against the blocks, so a doc cannot quietly stop testing its examples.
MOST_NOT_RUN = 2
FENCE = re.compile(
    r"(?:^<!-- (?P<mark>not run|fails): (?P<why>[^\n]*) -->\n)?"
    r"^```(?P<lang>python|sh|bash)\n(?P<code>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)
# Fixed bytes, so a doc can quote their digests (``--checksum sha256:...``).
_RANDOM = random.Random(20261202)
SIZES = {"a.iso": 300_000, "b.iso": 2000, "b": 1000}
DATA = {name: _RANDOM.randbytes(size) for name, size in SIZES.items()}
BIG = _RANDOM.randbytes(3 << 20)
TREE = {"jma/hsd/x.bz2": b"bz2 x", "jma/hsd/2026/y.bz2": b"bz2 y", "jma/hsd/tmp/t.txt": b"t"}
WEB_TREE = {
    "gnss/2026/001/site1.crx.gz": b"crx 1",
    "gnss/2026/001/site2.crx.gz": b"crx 2",
    "gnss/2026/002/site1.crx.gz": b"crx 3",
    "gnss/2026/002/notes.txt": b"notes",
}


@dataclass(frozen=True)
class Block:
    doc: str
    line: int
    lang: str
    code: str
    mark: str | None  # "not run", "fails" or None
    why: str | None

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}"


def blocks(doc: Path) -> Iterator[Block]:
    text = doc.read_text(encoding="utf-8")
    name = doc.relative_to(ROOT).as_posix()
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start("lang")) + 1
        yield Block(name, line, match["lang"], match["code"], match["mark"], match["why"])


ALL = [block for doc in DOCS if doc.exists() for block in blocks(doc)]
RUN = [block for block in ALL if block.mark != "not run"]


def test_the_docs_with_examples_have_blocks_that_run() -> None:
    assert all(doc.exists() for doc in DOCS[:2]), "README.md and SECURITY.md"
    examples = ["README.md", "docs/cli.md", "docs/api.md", "docs/ftp.md", "docs/huge-jobs.md"]
    for doc in examples:
        assert any(block.doc == doc for block in RUN), f"{doc}: no block found to run"


def test_the_docs_mark_few_blocks_not_run() -> None:
    not_run = [f"{b}: {b.why}" for b in ALL if b.mark == "not run"]
    assert len(not_run) <= MOST_NOT_RUN, not_run


def test_the_docs_quote_the_digests_of_the_served_files() -> None:
    """A digest in a doc is of a file the test serves, so its block checks something."""
    served = {hashlib.sha256(data).hexdigest() for data in [*DATA.values(), BIG]}
    for block in RUN:
        for digest in re.findall(r"sha256:([0-9a-f]{64})", block.code):
            assert digest in served, f"{block}: sha256:{digest} is no served file's"


@pytest.fixture
def web_tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """nginx's autoindex pages over ``WEB_TREE``: the docs' HTTPS folder tree."""
    with autoindex.readable_root() as root:
        for path, data in WEB_TREE.items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        with autoindex.serve("nginx", root, tmp_path_factory.mktemp("nginx")) as url:
            yield url


@pytest.fixture
def hosts(
    http_server: FaultServer, other_server: FaultServer, ftp: RunningFTP, web_tree: str
) -> dict[str, str]:
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
        "https://data.example": web_tree,
        "ftp://user:pass@ftp.example:2121": ftp_url.replace("ftp://", "ftp://alice:wonder@"),
        "ftp://c.example": ftp_url,
        "ftp://archive.example": ftp_url,
    }


def localize(code: str, hosts: dict[str, str]) -> str:
    for placeholder, local in hosts.items():
        code = code.replace(placeholder, local)
    assert ".example" not in code, f"a placeholder host is not mapped: {code}"
    return code


@pytest.mark.anyio
@pytest.mark.parametrize("block", RUN, ids=str)
async def test_doc_block_runs(
    block: Block, hosts: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))  # netrc=True reads this ~/.netrc: none
    local = [f"{hosts['https://example.org']}/{name}" for name in DATA]
    (tmp_path / "urls.txt").write_text("".join(url + "\n" for url in local))
    (tmp_path / "artifacts.txt").write_text(local[0] + "\n")
    mirrors = [f"{hosts[h]}/big.iso" for h in ("https://a.example", "https://b.example")]
    (tmp_path / "mirrors.txt").write_text("\t".join(mirrors) + "\n  out=big.iso\n")
    code = localize(block.code, hosts)
    if block.lang == "python":
        results = await run_python(code, local)
        if re.search(r"aiodl\.(download|stream)", code):
            assert results, f"{block}: the block downloaded nothing"
        failed = [r for r in results if not r.ok]
        if block.mark == "fails":
            assert failed, f"{block} is marked 'fails' but every Result is ok"
        else:
            assert not failed, failed
    else:
        await run_shell(code, tmp_path)


async def run_python(code: str, local: list[str]) -> list[aiodl.Result]:
    """Run ``code``; returns every Result the download functions handed it."""
    recorded: list[tuple[Any, ...]] = []
    seen: list[aiodl.Result] = []

    def urls() -> Iterator[str]:
        yield from local

    async def record(*values: Any) -> None:
        recorded.append(values)

    watched = _watched(seen)

    def imports(name: str, *args: Any, **kwargs: Any) -> Any:
        """``import aiodl`` in a block is the watched aiodl too."""
        return watched if name == "aiodl" else __import__(name, *args, **kwargs)

    names = {"__builtins__": {**vars(builtins), "__import__": imports}}
    names |= {"aiodl": watched, "contextlib": contextlib}
    names |= {"urls": urls, "record": record}
    if "asyncio.run(" in code:  # a script: its own loop, in a thread (this one is busy)
        await asyncio.to_thread(exec, compile(code, "<doc>", "exec"), names)
        return seen
    compiled = compile(code, "<doc>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    outcome = eval(compiled, names)
    if asyncio.iscoroutine(outcome):
        await outcome
    return seen


def _watched(seen: list[aiodl.Result]) -> types.SimpleNamespace:
    """``aiodl`` as a block sees it: the same names, but the download functions keep a
    copy of every Result in ``seen``, so a Result the block drops is still checked."""

    async def download_many(*args: Any, **kwargs: Any) -> list[aiodl.Result]:
        results = await aiodl.download_many(*args, **kwargs)
        seen.extend(results)
        return results

    async def stream(*args: Any, **kwargs: Any) -> AsyncIterator[aiodl.Result]:
        async with contextlib.aclosing(aiodl.stream(*args, **kwargs)) as results:
            async for result in results:
                seen.append(result)
                yield result

    async def download(*args: Any, **kwargs: Any) -> aiodl.Result:
        try:
            result = await aiodl.download(*args, **kwargs)
        except aiodl.DownloadError as error:  # raised, as documented: seen as a failure
            seen.append(aiodl.Result(error.url or "", None, ok=False, error=error))
            raise
        seen.append(result)
        return result

    public = {name: getattr(aiodl, name) for name in aiodl.__all__}
    watched = {"download_many": download_many, "stream": stream, "download": download}
    return types.SimpleNamespace(**{**public, **watched})


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
