"""Resume after a crash, for real: the CLI in a subprocess, killed with SIGKILL mid-file.

The server is slow (1 MiB/s per connection), so a kill lands in the middle of the file.
Each trial waits until the journal holds durable bytes (the CLI checkpoints about once a
second), kills at a random moment after that, and reruns the same command.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest

import aiodl
from aiodl._disk.names import part_name
from testing import MiB, random_bytes, sha
from testing.servers.ftp import running_ftp
from testing.servers.http import FaultServer

pytestmark = pytest.mark.anyio
RATE = MiB  # bytes per second per connection


def journaled_bytes(dest: Path) -> int:
    """Bytes the journal in ``dest`` says are on disk (0 if there is no journal yet)."""
    path = dest / ".aiodl" / "journal.sqlite"
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        try:
            rows = db.execute("SELECT ranges FROM files").fetchall()
        except sqlite3.OperationalError:  # the table is being created right now
            return 0
    return sum(end - start for (ranges,) in rows for start, end in json.loads(ranges))


async def start(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiodl", "--no-progress", "--json", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def killed_after_a_checkpoint(args: list[str], dest: Path, rng: random.Random) -> None:
    """Run the CLI until its journal holds bytes, then SIGKILL it at a random moment."""
    process = await start(*args)
    deadline = time.monotonic() + 20
    while journaled_bytes(dest) == 0:  # poll the condition, bounded; not a fixed wait
        assert process.returncode is None, "finished before its first checkpoint"
        assert time.monotonic() < deadline, "no checkpoint within 20 s"
        await asyncio.sleep(0.02)
    await asyncio.sleep(rng.uniform(0, 0.4))
    process.send_signal(signal.SIGKILL)
    await process.communicate()
    assert process.returncode == -signal.SIGKILL


async def rerun(args: list[str]) -> tuple[int, dict[str, object], str]:
    process = await start(*args)
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, json.loads(out.decode().splitlines()[-1]), err.decode()


async def test_sigkill_at_random_points_then_resume(
    http_server: FaultServer, tmp_path: Path
) -> None:
    data = random_bytes(8 * MiB)
    url = http_server.add("big.bin", data, rate=RATE)
    rng = random.Random(20261123)
    for trial in range(10):
        dest = tmp_path / f"trial{trial}"
        args = ["-s", "4", "-d", str(dest), url]
        await killed_after_a_checkpoint(args, dest, rng)
        assert not (dest / "big.bin").exists()
        assert (dest / part_name("big.bin")).exists()
        already = len(http_server.requests_for("big.bin"))
        code, result, err = await rerun(args)
        assert code == 0, err
        assert result["resumed"] is True
        assert sha((dest / "big.bin").read_bytes()) == sha(data)
        again = http_server.requests_for("big.bin")[already:]
        assert again
        assert all((seen.range_start or 0) > 0 for seen in again), trial
        assert journaled_bytes(dest) == 0  # the record went with the install


async def test_changed_file_between_kill_and_rerun_is_fetched_anew(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """New bytes and a new ETag: If-Range makes the server send the whole new file, and
    the result is the new content, never a splice of old and new."""
    dest = tmp_path / "d"
    url = http_server.add("doc.bin", random_bytes(8 * MiB), rate=RATE)
    old_etag = http_server.faults["doc.bin"].etag
    args = ["-s", "4", "-d", str(dest), url]
    await killed_after_a_checkpoint(args, dest, random.Random(1))
    new = random_bytes(8 * MiB)
    http_server.add("doc.bin", new)
    already = len(http_server.requests_for("doc.bin"))
    code, result, err = await rerun(args)
    assert code == 0, err
    assert "fetching it from byte 0" in err
    assert result["resumed"] is False
    assert sha((dest / "doc.bin").read_bytes()) == sha(new)
    resume, fresh = http_server.requests_for("doc.bin")[already : already + 2]
    assert resume.headers.get("If-Range") == old_etag  # answered 200: the file changed
    assert (resume.range_start or 0) > 0
    assert fresh.headers.get("Range") == "bytes=0-"


async def test_file_shrunk_without_validators_gets_416_and_restarts(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """No ETag, no Last-Modified: the resumed range lies past the new end, the server
    answers 416, and the file is fetched from byte 0."""
    dest = tmp_path / "d"
    url = http_server.add("plain.bin", random_bytes(8 * MiB), rate=RATE, etag=None)
    args = ["-s", "4", "-d", str(dest), url]
    await killed_after_a_checkpoint(args, dest, random.Random(2))
    new = random_bytes(256 * 1024)
    http_server.add("plain.bin", new, etag=None)
    code, _, err = await rerun(args)
    assert code == 0, err
    assert "416" in err or "refused" in err
    assert sha((dest / "plain.bin").read_bytes()) == sha(new)


async def test_resumed_requests_carry_if_range(http_server: FaultServer, tmp_path: Path) -> None:
    dest = tmp_path / "d"
    url = http_server.add("tagged.bin", random_bytes(8 * MiB), rate=RATE)
    args = ["-s", "2", "-d", str(dest), url]
    await killed_after_a_checkpoint(args, dest, random.Random(3))
    already = len(http_server.requests_for("tagged.bin"))
    code, _, err = await rerun(args)
    assert code == 0, err
    etag = http_server.faults["tagged.bin"].etag
    validators = {
        s.headers.get("If-Range") for s in http_server.requests_for("tagged.bin")[already:]
    }
    assert validators == {etag}


async def cancelled_after_a_checkpoint(url: str, dest: Path, **options: object) -> None:
    """Start a download in this process and cancel it (Ctrl-C) once bytes are journaled."""
    task = asyncio.create_task(aiodl.download_many([url], dest, **options))  # type: ignore[arg-type]
    deadline = time.monotonic() + 20
    while journaled_bytes(dest) == 0:
        assert not task.done(), "finished before its first checkpoint"
        assert time.monotonic() < deadline, "no checkpoint within 20 s"
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancelled_download_keeps_its_part_and_resumes(
    http_server: FaultServer, tmp_path: Path
) -> None:
    data = random_bytes(6 * MiB)
    url = http_server.add("c.bin", data, rate=RATE)
    dest = tmp_path / "d"
    await cancelled_after_a_checkpoint(url, dest, split=3)
    assert (dest / part_name("c.bin")).exists()
    assert not (dest / "c.bin").exists()
    result = await aiodl.download(url, dest, split=3)
    assert result.resumed
    assert sha((dest / "c.bin").read_bytes()) == sha(data)
    assert not (dest / part_name("c.bin")).exists()


async def test_ftp_download_resumes_with_rest_past_zero(tmp_path: Path) -> None:
    root = tmp_path / "served"
    root.mkdir()
    data = random_bytes(6 * MiB)
    (root / "f.bin").write_bytes(data)
    dest = tmp_path / "d"
    with running_ftp(root) as ftp:
        ftp.faults.rate = 2 * RATE
        await cancelled_after_a_checkpoint(ftp.url("f.bin"), dest, split=3)
        already = len(ftp.log.commands)
        result = await aiodl.download(ftp.url("f.bin"), dest, split=3)
        rests = [int(arg) for arg in ftp.log.args("REST")]
        again = ftp.log.commands[already:]
    assert result.resumed
    assert sha((dest / "f.bin").read_bytes()) == sha(data)
    assert "MDTM f.bin" in again  # the version was checked before any byte was added
    retrieved = [line for line in again if line.startswith("RETR")]
    assert len(retrieved) == sum(1 for line in again if line.startswith("REST"))  # all ranged
    assert min(rests[-len(retrieved) :]) > 0


async def test_ftp_file_changed_since_the_crash_is_fetched_anew(tmp_path: Path) -> None:
    root = tmp_path / "served"
    root.mkdir()
    (root / "f.bin").write_bytes(random_bytes(6 * MiB))
    dest = tmp_path / "d"
    with running_ftp(root) as ftp:
        ftp.faults.rate = 2 * RATE
        await cancelled_after_a_checkpoint(ftp.url("f.bin"), dest, split=3)
        new = random_bytes(6 * MiB)
        (root / "f.bin").write_bytes(new)
        os.utime(root / "f.bin", (2_000_000_000, 2_000_000_000))
        result = await aiodl.download(ftp.url("f.bin"), dest, split=3)
    assert not result.resumed
    assert sha((dest / "f.bin").read_bytes()) == sha(new)


async def test_second_process_on_the_same_target_fails_clearly(
    http_server: FaultServer, tmp_path: Path
) -> None:
    url = http_server.add("shared.bin", random_bytes(4 * MiB), rate=RATE)
    dest = tmp_path / "d"
    first = await start("-s", "2", "-d", str(dest), url)
    deadline = time.monotonic() + 20
    while not (dest / part_name("shared.bin")).exists():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    code, result, _ = await rerun(["-s", "2", "-d", str(dest), url])
    _, err = await first.communicate()
    assert first.returncode == 0, err
    assert code == 1
    assert "being written by another process" in str(result["error"])
    assert sha((dest / "shared.bin").read_bytes()) == sha(http_server.files["shared.bin"])
