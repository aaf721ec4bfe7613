"""Authenticated bulk download from an Artifactory-style repository with the ``aiodl`` CLI.

The job of a CI step that pulls a build's artifacts: an input file lists them (one URL a
line; an indented ``out=`` line keeps the repository layout on disk), the API key goes in
``$AIODL_API_KEY`` so it never shows on a command line (where ``ps`` shows it to every
user of the host), ``--json`` gives a machine-readable outcome per file and
``--failed-list`` writes what failed in the same input format, to retry with ``-i``.

The repository is a small aiohttp app this script runs on 127.0.0.1: it answers 401
without the ``X-JFrog-Art-Api`` key, one artifact is busy once (503, ``Retry-After: 1``)
and two listed ones do not exist (404). Like Artifactory it sends each file's sha256 as
``X-Checksum-Sha256``, which aiodl checks before a file is renamed into place. The script
runs the CLI, retries the failed list once (still 404), and checks every downloaded file
against the repository's sha256 itself too.

    python examples/artifactory.py
    AIODL_EXAMPLE_ARTIFACTS=10 AIODL_EXAMPLE_KIB=64 python examples/artifactory.py
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import shutil
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

WORK = Path(os.environ.get("AIODL_DEMO_DIR", "/tmp/aiodl-demo")) / "artifactory"
COUNT = int(os.environ.get("AIODL_EXAMPLE_ARTIFACTS", "60"))
KIB = int(os.environ.get("AIODL_EXAMPLE_KIB", "2048"))
REPO = "artifactory/libs-release-local"
MODULES = ("core", "api", "cli", "web", "worker")
MISSING = ("com/acme/core/9.9.9/core-9.9.9.jar", "com/acme/api/1.0.0/api-1.0.0-sources.jar")
HEADER = "X-JFrog-Art-Api"


@dataclass
class Repository:
    """Artifacts by repository path, served only to requests carrying ``key``."""

    key: str
    artifacts: dict[str, bytes]
    busy: set[str] = field(default_factory=set)  # answer 503 once, then serve
    requests: int = 0
    refused: int = 0  # 401s
    unavailable: int = 0  # 503s

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        if request.headers.get(HEADER) != self.key:
            self.refused += 1
            return web.json_response({"errors": [{"status": 401}]}, status=401)
        path = request.match_info["path"]
        if path in self.busy:
            self.busy.discard(path)
            self.unavailable += 1
            return web.Response(status=503, headers={"Retry-After": "1"})
        data = self.artifacts.get(path)
        if data is None:
            return web.json_response({"errors": [{"status": 404}]}, status=404)
        digest = hashlib.sha256(data).hexdigest()
        return web.Response(body=data, headers={"X-Checksum-Sha256": digest})


def make_artifacts() -> dict[str, bytes]:
    """Jars of a few modules over several versions, ``KIB`` KiB each (a little more)."""
    artifacts = {}
    for number in range(COUNT):
        module, version = MODULES[number % len(MODULES)], f"1.{number // len(MODULES)}.0"
        path = f"com/acme/{module}/{version}/{module}-{version}.jar"
        artifacts[path] = os.urandom(KIB * 1024 + number)
    return artifacts


@asynccontextmanager
async def serving(repository: Repository) -> AsyncIterator[str]:
    """The repository on a free port of 127.0.0.1; yields its base URL."""
    app = web.Application()
    app.router.add_get(f"/{REPO}/{{path:.+}}", repository.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/{REPO}"
    finally:
        await runner.cleanup()


def write_input(base: str, paths: list[str], listing: Path) -> None:
    """aria2's input format: a URL, then ``out=`` indented under it."""
    listing.write_text(
        "# build 1234 artifacts\n" + "".join(f"{base}/{p}\n  out={p}\n" for p in paths)
    )


async def aiodl_cli(*args: str, key: str, work: Path) -> tuple[int, list[dict[str, Any]]]:
    """``python -m aiodl ARGS --json`` in ``work``, the key in its environment only; shows
    the command, its exit status and its summary line."""
    args = (*args, "--json")
    print("$ AIODL_API_KEY=*** python -m aiodl " + " ".join(args))
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "aiodl", *args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "AIODL_API_KEY": key},
        cwd=work,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    if key.encode() in out + err:
        raise SystemExit("the API key leaked into aiodl's output")
    summary = [line for line in err.decode().splitlines() if " ok, " in line]
    print(f"  exit {process.returncode}: {''.join(summary)}")
    return process.returncode, [json.loads(line) for line in out.splitlines()]


async def run_job(repository: Repository, work: Path) -> tuple[list[dict[str, Any]], bool]:
    """Both CLI runs; the first run's results, and whether they came out as expected."""
    common = ["-d", "downloads", "-j", "8", "--retries", "3", "--api-key-header", HEADER]
    async with serving(repository) as base:
        write_input(base, [*repository.artifacts, *MISSING], work / "artifacts.txt")
        first = ["-i", "artifacts.txt", *common, "--failed-list", "failed.txt"]
        code, results = await aiodl_cli(*first, key=repository.key, work=work)
        retry_list = (work / "failed.txt").read_text()
        print("failed.txt:\n" + "".join(f"  {line}\n" for line in retry_list.splitlines()), end="")
        again_code, again = await aiodl_cli(
            "-i", "failed.txt", *common, key=repository.key, work=work
        )
    for result in again:
        print(f"  still failing: {result['error']}")
    missing = {f"{base}/{path}" for path in MISSING}
    expected = (
        code == 1
        and {line for line in retry_list.splitlines() if "://" in line} == missing
        and again_code == 1
        and {r["url"] for r in again} == missing
        and all(not r["ok"] and "404" in r["error"] for r in again)
    )
    return results, expected


def verify(artifacts: dict[str, bytes], dest: Path) -> int:
    """How many artifacts are saved at their ``out=`` path with the repository's sha256."""
    verified = 0
    for path, data in artifacts.items():
        saved = dest / path
        digest = hashlib.sha256(saved.read_bytes()).hexdigest() if saved.is_file() else None
        if digest == hashlib.sha256(data).hexdigest():
            verified += 1
        else:
            print(f"MISMATCH {path}")
    return verified


def main() -> int:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    repository = Repository(secrets.token_hex(16), make_artifacts())
    repository.busy.add(next(iter(repository.artifacts)))
    size = sum(map(len, repository.artifacts.values()))
    print(
        f"repository: {COUNT} artifacts ({size / 2**20:.1f} MiB), key required in {HEADER}; "
        f"the list also names {len(MISSING)} that do not exist"
    )
    results, expected = asyncio.run(run_job(repository, WORK))
    ok = sum(r["ok"] for r in results)
    verified = verify(repository.artifacts, WORK / "downloads")
    print(
        f"{ok} ok, {len(results) - ok} failed; {verified} of {COUNT} files match the "
        f"repository's sha256\nserver: {repository.requests} requests, {repository.refused} "
        f"without the key, {repository.unavailable} answered 503 (then served on retry)"
    )
    good = expected and ok == verified == COUNT and repository.refused == 0
    good = good and repository.unavailable == 1 and not repository.busy
    print("expected outcome" if good else "UNEXPECTED outcome")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
