"""One URL can never abort or hang a batch, over real sockets on 127.0.0.1.

A malformed input URL, a hostile redirect, a bug inside one file's download or a progress
callback that raises: that file fails (with a one-sentence reason), the others are saved,
and ``download_many``, ``stream`` and the CLI always end. Cancelling (a timeout, Ctrl-C)
ends every wait at once, a server's Retry-After included. ``connections`` and the other
concurrency options are bounded, and workers start only as jobs arrive.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import aiodl
from tests.conftest import random_bytes
from tests.servers.http import FaultServer, running

pytestmark = pytest.mark.anyio

FAST: dict[str, Any] = {"backoff": 0.01, "retries": 1}
HARD_LIMIT = 60.0  # seconds a CLI run may take before the test calls it hung


async def run_cli(*args: str) -> tuple[int, str, str]:
    """``python -m aiodl ARGS`` under a hard time limit: a hang fails the test."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiodl", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(), HARD_LIMIT)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"aiodl {' '.join(args)} did not end within {HARD_LIMIT:.0f} s")
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


# --- cancellation ends every wait at once ---------------------------------------------


class NoticingServer(FaultServer):
    """A FaultServer that sets ``asked`` when a request arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.asked.set()
        return await super().handle(request)


@pytest.fixture
async def busy_server() -> AsyncIterator[NoticingServer]:
    async with running(NoticingServer()) as server:
        yield server


async def test_a_timeout_ends_a_retry_after_wait_at_once(
    busy_server: NoticingServer, tmp_path: Path
) -> None:
    """503 with ``Retry-After: 60``: ``asyncio.timeout(1)`` around ``download_many``
    returns within seconds (it took the whole wait again after the cancel, when the
    pause took its slot back through the host's deadline)."""
    url = busy_server.add("busy.bin", random_bytes(1000), statuses=[503] * 5, retry_after="60")
    began = time.monotonic()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(1):
            await aiodl.download_many([url], tmp_path, retries=3)
    assert time.monotonic() - began < 10
    assert busy_server.asked.is_set()
    assert list(tmp_path.iterdir()) == []


async def test_a_timeout_ends_a_wait_for_the_hosts_deadline_at_once(
    busy_server: NoticingServer, tmp_path: Path
) -> None:
    """Two files of one host: the first got ``Retry-After: 60``, the second waits for
    the host's deadline (lending its slot); a timeout ends both waits at once."""
    busy = busy_server.add("busy.bin", random_bytes(1000), statuses=[503] * 5, retry_after="60")
    other = busy_server.add("other.bin", random_bytes(1000))
    began = time.monotonic()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(1):
            await aiodl.download_many([busy, other], tmp_path, retries=3, per_host=1)
    assert time.monotonic() - began < 10


async def test_sigint_ends_a_retry_after_wait_promptly(
    busy_server: NoticingServer, tmp_path: Path
) -> None:
    """Ctrl-C while the CLI waits out ``Retry-After: 60``: exit 130 within seconds."""
    url = busy_server.add("busy.bin", random_bytes(1000), statuses=[503] * 5, retry_after="60")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiodl", "-v", "--no-progress", "--retries", "3",
        "-d", str(tmp_path), url,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    try:
        async with asyncio.timeout(HARD_LIMIT):
            while b"retrying in" not in (line := await process.stderr.readline()):
                assert line, "aiodl ended before it waited"
            process.send_signal(signal.SIGINT)
            signalled = time.monotonic()
            _, rest = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 130, rest
    assert time.monotonic() - signalled < 10
    assert b"Traceback" not in rest


# --- bounded concurrency -------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [("connections", 100_000), ("split", 1000), ("per_host", 100_000)],
)
async def test_concurrency_beyond_its_bound_is_refused(
    http_server: FaultServer, tmp_path: Path, option: str, value: int
) -> None:
    url = http_server.add("one.bin", random_bytes(1000))
    with pytest.raises(ValueError, match=option):
        await aiodl.download_many([url], tmp_path, **{option: value})
    assert http_server.seen == []


async def test_cli_j_beyond_its_bound_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = await run_cli("-j", "1000000", "-d", str(tmp_path), "http://127.0.0.1:1/x")
    assert code == 2
    assert "connections" in err
    assert "1024" in err
    assert "Traceback" not in err


async def test_workers_start_as_jobs_arrive(http_server: FaultServer, tmp_path: Path) -> None:
    """``connections=1024`` and one file in hand (the sources hold the next one back
    until it is done): a handful of tasks, not 2048 idle workers started up front."""
    url = http_server.add("a.bin", random_bytes(1000))
    finished = asyncio.Event()
    tasks: list[int] = []

    async def sources() -> AsyncIterator[str]:
        yield url
        await finished.wait()

    def count(event: aiodl.Event) -> None:
        if isinstance(event, aiodl.Started):
            tasks.append(len(asyncio.all_tasks()))
        if isinstance(event, aiodl.Finished):
            finished.set()

    [result] = await aiodl.download_many(sources(), tmp_path, connections=1024, progress=count)
    assert result.ok
