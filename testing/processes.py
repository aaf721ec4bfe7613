"""The CLI and the examples as child processes, and the guard for tests that need vsftpd."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from testing.servers import vsftpd

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


async def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``python -m aiodl ARGS`` to the end: exit code, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aiodl",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def cli(*args: str) -> asyncio.subprocess.Process:
    """``python -m aiodl --no-progress --json ARGS`` started, for a test to kill or await."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiodl", "--no-progress", "--json", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


def read_terminal(master: int) -> bytes:
    """Everything written to a pseudo-terminal until its last writer closes it."""
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child has exited and closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def run_example(name: str, tmp_path: Path, **env: str) -> str:
    """Run ``examples/NAME`` with its demo folder in ``tmp_path``; returns its stdout."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        env={**os.environ, "AIODL_DEMO_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def require_vsftpd() -> None:
    """Skip without Debian's vsftpd and root; fail instead where integration is required."""
    import pytest  # only tests call this; the benchmarks import this package without it

    missing = not Path(vsftpd.VSFTPD).exists() or os.geteuid() != 0
    if missing and os.environ.get("AIODL_REQUIRE_INTEGRATION") == "1":
        pytest.fail("vsftpd integration tests are required here, but vsftpd cannot run")
    if missing:
        pytest.skip("needs Debian's vsftpd and root (.ci/run installs it)")
