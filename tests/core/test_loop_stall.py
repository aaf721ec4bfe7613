"""The caller's loop keeps running while aiodl moves bytes on it.

A ticker on the test's own loop sleeps 5 ms again and again while 256 MiB arrive over
plain HTTP (lighttpd) and FTP (vsftpd) in 8 segments, checked against a sha512: how late
it wakes is how long aiodl held the loop. The bound is generous (the goal, far lower, is
measured in benchmarks/, not here): it catches a copy loop that never yields or a
blocking call put back on the loop, without being a timing test that flakes.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

import aiodl
from testing import MiB
from testing.servers import vsftpd
from testing.servers.connect import lighttpd

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
SIZE = 256 * MiB
BOUND = 0.100  # seconds the loop may be held at most, once


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A folder readable by servers that drop privileges, holding big.bin; its sha512."""
    if os.geteuid() != 0 or not Path(vsftpd.VSFTPD).exists():
        if os.environ.get("AIODL_REQUIRE_INTEGRATION") == "1":
            pytest.fail("the loop-stall guard needs vsftpd and root (.ci/run installs it)")
        pytest.skip("needs Debian's vsftpd and lighttpd, and root")
    root = tmp_path_factory.mktemp("stall-root")
    root.chmod(0o755)
    digest = hashlib.sha512()
    with (root / "big.bin").open("wb") as file:
        for _ in range(SIZE // (16 * MiB)):
            chunk = os.urandom(16 * MiB)
            digest.update(chunk)
            file.write(chunk)
    return root, digest.hexdigest()


@asynccontextmanager
async def ticking() -> AsyncIterator[list[float]]:
    """How late each 5 ms sleep of a task on this loop woke, while the block runs."""
    late: list[float] = []

    async def tick() -> None:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(0.005)
            late.append(time.perf_counter() - asked - 0.005)

    task = asyncio.create_task(tick())
    try:
        yield late
    finally:
        task.cancel()


async def fetch_watched(url: str, digest: str, dest: Path) -> list[float]:
    async with ticking() as late:
        request = aiodl.Request(url, checksum=f"sha512:{digest}")
        result = await aiodl.download(request, dest, split=8, connections=8, per_host=8)
    assert result.ok, result.error
    return late


async def test_the_loop_is_never_held_long_over_http(
    served: tuple[Path, str], tmp_path: Path
) -> None:
    root, digest = served
    with lighttpd(root, host="127.0.0.1") as port:
        late = await fetch_watched(f"http://127.0.0.1:{port}/big.bin", digest, tmp_path / "d")
    assert len(late) > 10  # the ticker ran during the download
    assert max(late) < BOUND, f"the loop was held {max(late) * 1e3:.0f} ms"


async def test_the_loop_is_never_held_long_over_ftp(
    served: tuple[Path, str], tmp_path: Path
) -> None:
    root, digest = served
    with vsftpd.serve(root, tmp_path / "work") as port:
        late = await fetch_watched(f"ftp://127.0.0.1:{port}/big.bin", digest, tmp_path / "d")
    assert len(late) > 10
    assert max(late) < BOUND, f"the loop was held {max(late) * 1e3:.0f} ms"
