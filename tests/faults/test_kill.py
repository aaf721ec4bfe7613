"""A killed process resumes from what it wrote, not only from what it had flushed.

After SIGKILL the page cache still holds every byte whose write returned; the journal
records those ranges a few times a second with this boot's id, so the rerun on the same
boot fetches only what never arrived (a power cut, a new boot, trusts only the flushed
ranges: tests/faults/test_local.py).
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from contextlib import suppress
from pathlib import Path

import pytest

from testing import MiB, cli, journaled, random_bytes, sha
from testing.servers.http import FaultServer

pytestmark = pytest.mark.anyio


async def test_a_killed_run_resumes_from_its_written_ranges(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """Killed while more is written than flushed, the rerun fetches only the bytes the
    journal's written ranges lack: fewer than the flushed ranges alone would leave."""
    data = random_bytes(16 * MiB)  # 4 s at 4 x 1 MiB/s
    url = http_server.add("big.bin", data, rate=MiB)
    dest = tmp_path / "d"
    process = await cli("-s", "4", "-d", str(dest), url)
    try:
        deadline = time.monotonic() + 20
        while journaled(dest, "written") <= journaled(dest, "ranges") + MiB:
            assert process.returncode is None, "finished before the kill"
            assert time.monotonic() < deadline, "no written ranges beyond the flushed ones"
            await asyncio.sleep(0.02)
    finally:
        with suppress(ProcessLookupError):
            process.send_signal(signal.SIGKILL)
        await process.communicate()
    written, flushed = journaled(dest, "written"), journaled(dest, "ranges")
    assert written > flushed
    http_server.faults["big.bin"].rate = None
    process = await cli("-s", "4", "-d", str(dest), url)
    out, err = await process.communicate()
    assert process.returncode == 0, err
    result = json.loads(out)
    assert result["resumed"] is True
    assert sha((dest / "big.bin").read_bytes()) == sha(data)
    assert sum(result["delivered"].values()) <= len(data) - written
