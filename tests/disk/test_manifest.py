"""The manifest (aiodl._disk.manifest): its records on a real SQLite file, then reruns of real
downloads that skip what it says is done."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import stat
import subprocess
import sys
import tempfile
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aiodl
from aiodl._disk.manifest import BATCH_ROWS, Manifest, outcome
from aiodl._disk.names import sharded
from testing import random_bytes
from testing.servers.http import FaultServer

A, B = (
    aiodl.Request("http://h/a"),
    aiodl.Request("http://h/b", "named/b.bin", mirrors=["ftp://m/b"]),
)


def test_records_move_from_pending_to_done_or_failed(tmp_path: Path) -> None:
    manifest = Manifest(tmp_path / "job.sqlite")
    manifest.pending(A)
    manifest.pending(B)
    manifest.flush()
    assert manifest.counts() == {"done": 0, "failed": 0, "pending": 2}
    manifest.done(A, "a", 3, "sha256:00")
    manifest.failed(B, "HTTP 404")
    manifest.pending(A)  # drawn again: a record is never set back to pending
    manifest.close()
    again = Manifest(tmp_path / "job.sqlite")
    done, failed = again.lookup(A), again.lookup(B)
    assert done is not None
    assert (done.state, done.saved, done.size) == ("done", "a", 3)
    assert failed is not None
    assert (failed.state, failed.reason, failed.attempts) == (
        "failed",
        "HTTP 404",
        1,
    )
    assert failed.request() == B  # URL, name and mirrors: enough to fetch it again
    again.close()


def test_each_failed_run_counts_and_success_clears_the_reason(tmp_path: Path) -> None:
    manifest = Manifest(tmp_path / "job.sqlite")
    for reason in ("timeout", "HTTP 503"):
        manifest.failed(A, reason)
    manifest.flush()
    entry = manifest.lookup(A)
    assert entry is not None
    assert (entry.attempts, entry.reason) == (2, "HTTP 503")
    manifest.done(A, "a", 1, "sha256:11")
    manifest.flush()
    entry = manifest.lookup(A)
    assert entry is not None
    assert (entry.state, entry.reason) == ("done", None)
    manifest.close()


def test_records_are_committed_in_batches(tmp_path: Path) -> None:
    """Another reader sees nothing until a batch is full, then all of it at once."""
    manifest = Manifest(tmp_path / "job.sqlite")
    reader = sqlite3.connect(tmp_path / "job.sqlite")

    def committed() -> int:
        return int(reader.execute("SELECT count(*) FROM sources").fetchone()[0])

    for number in range(BATCH_ROWS - 1):
        manifest.pending(aiodl.Request(f"http://h/{number}"))
    assert committed() == 0
    manifest.pending(aiodl.Request("http://h/last"))
    assert committed() == BATCH_ROWS
    manifest.close()
    reader.close()


def test_the_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    Manifest(tmp_path / "job.sqlite").close()
    assert stat.S_IMODE((tmp_path / "job.sqlite").stat().st_mode) == 0o600


def test_a_file_that_is_not_a_manifest_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "urls.txt").write_text("http://h/a\n" * 200)
    with pytest.raises(ValueError, match="not an aiodl manifest"):
        Manifest(tmp_path / "urls.txt")


OPS = st.lists(st.tuples(st.sampled_from(["pending", "done", "failed"]), st.sampled_from([A, B])))


@settings(max_examples=50, deadline=None)
@given(OPS)
def test_records_follow_the_model_of_states(ops: list[tuple[str, aiodl.Request]]) -> None:
    """pending only adds an unknown file, done and failed always set the state, and
    attempts count the failures."""
    model: dict[aiodl.Request, tuple[str, int]] = {}
    with tempfile.TemporaryDirectory() as folder:
        manifest = Manifest(Path(folder, "job.sqlite"))
        for op, request in ops:
            state, attempts = model.get(request, ("pending", 0))
            if op == "pending":
                manifest.pending(request)
            elif op == "done":
                manifest.done(request, "x", 1, "sha256:00")
            else:
                manifest.failed(request, "boom")
                attempts += 1
            model[request] = (op if op != "pending" else state, attempts)
        manifest.flush()
        for request, (state, attempts) in model.items():
            entry = manifest.lookup(request)
            assert entry is not None
            assert (entry.state, entry.attempts) == (state, attempts)
        manifest.close()


def test_sharding_is_stable_and_spreads_names() -> None:
    path = sharded(PurePosixPath("f.bin"), 2)
    digest = hashlib.sha256(b"f.bin").hexdigest()
    assert path.as_posix() == f"{digest[:2]}/{digest[2:4]}/f.bin"
    folders = {sharded(PurePosixPath(f"{n}.jpg"), 1).parts[0] for n in range(2000)}
    assert len(folders) > 200  # of 256


@pytest.mark.anyio
async def test_a_rerun_skips_done_files_without_any_request(
    http_server: FaultServer, tmp_path: Path
) -> None:
    files = {f"f{n}.bin": random_bytes(1000 + n) for n in range(20)}
    urls = [http_server.add(name, data) for name, data in files.items()]
    job = tmp_path / "job.sqlite"
    first = await aiodl.download_many(urls, tmp_path / "d", manifest=job)
    assert all(r.ok and not r.skipped for r in first)
    asked = len(http_server.seen)
    second = await aiodl.download_many(urls, tmp_path / "d", manifest=job)
    assert len(http_server.seen) == asked  # not one request
    assert all(r.ok and r.skipped for r in second)
    assert [r.path for r in second] == [r.path for r in first]
    manifest = Manifest(job)
    for name, data in files.items():
        entry = manifest.lookup(aiodl.Request(http_server.url(name)))
        assert entry is not None
        assert entry.state == "done"
        assert (entry.size, entry.digest) == (
            len(data),
            "sha256:" + hashlib.sha256(data).hexdigest(),
        )
    manifest.close()


@pytest.mark.anyio
async def test_a_failed_file_is_asked_for_in_max_attempts_runs_only(
    http_server: FaultServer, tmp_path: Path
) -> None:
    missing = http_server.url("missing.bin")
    job = tmp_path / "job.sqlite"
    for run in range(3):
        [result] = await aiodl.download_many([missing], tmp_path, manifest=job, max_attempts=2)
        assert not result.ok
        assert result.error is not None
        if run < 2:
            assert "404" in str(result.error)
    assert len(http_server.requests_for("missing.bin")) == 2
    assert "failed in 2 runs, last: HTTP 404" in str(result.error)


@pytest.mark.anyio
async def test_a_done_file_that_was_deleted_is_fetched_again(
    http_server: FaultServer, tmp_path: Path
) -> None:
    data = random_bytes(5000)
    url = http_server.add("f.bin", data)
    job = tmp_path / "job.sqlite"
    [first] = await aiodl.download_many([url], tmp_path / "d", manifest=job)
    assert first.path is not None
    first.path.unlink()
    [second] = await aiodl.download_many([url], tmp_path / "d", manifest=job)
    assert second.ok
    assert not second.skipped
    assert first.path.read_bytes() == data


@pytest.mark.anyio
async def test_shard_puts_files_in_hashed_folders(http_server: FaultServer, tmp_path: Path) -> None:
    urls = [http_server.add(f"f{n}.bin", bytes([n])) for n in range(10)]
    results = await aiodl.download_many(urls, tmp_path, shard=2)
    for n, result in enumerate(results):
        assert result.path == tmp_path / sharded(PurePosixPath(f"f{n}.bin"), 2)
        assert result.path.read_bytes() == bytes([n])


def run_cli_measured(*args: str) -> tuple[int, int]:
    """Run the command to its end; its exit status and peak RSS in KiB (wait4)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "aiodl", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_maxrss


async def cli_measured(*args: str) -> tuple[int, int]:
    return await asyncio.get_running_loop().run_in_executor(None, run_cli_measured, *args)


@pytest.mark.anyio
async def test_twenty_thousand_urls_in_flat_memory_and_a_rerun_without_requests(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """The CLI in manifest mode on 20,000 URLs peaks within 1.25x the RSS of a 2,000-URL
    job (plus 10 MiB of allocator slack); the manifest ends complete, and a rerun asks
    the server for nothing."""
    small, large = 2_000, 20_000
    for number in range(large):
        http_server.add(f"{number}.txt", b"%d\n" % number)
    sizes = {}
    for count in (small, large):
        listing = tmp_path / f"{count}.txt"
        listing.write_text("".join(f"{http_server.url(f'{n}.txt')}\n" for n in range(count)))
        job = str(tmp_path / f"{count}.sqlite")
        code, sizes[count] = await cli_measured(
            "-q", "--no-sync", "--shard", "1", "--manifest", job,
            "-i", str(listing), "-d", str(tmp_path / str(count)),
        )  # fmt: skip
        assert code == 0
    assert sizes[large] <= 1.25 * sizes[small] + 10 * 1024, sizes
    manifest = Manifest(tmp_path / f"{large}.sqlite")
    assert manifest.counts() == {"done": large, "failed": 0, "pending": 0}
    manifest.close()
    asked = len(http_server.seen)
    code, _ = await cli_measured(
        "-q", "--manifest", str(tmp_path / f"{large}.sqlite"),
        "-i", str(tmp_path / f"{large}.txt"), "-d", str(tmp_path / str(large)),
    )  # fmt: skip
    assert code == 0
    assert len(http_server.seen) == asked
    assert (tmp_path / str(large) / sharded(PurePosixPath("123.txt"), 1)).read_bytes() == b"123\n"


@pytest.mark.anyio
async def test_a_saved_file_gone_before_its_digest_is_recorded_as_not_done(
    tmp_path: Path,
) -> None:
    """Removed between its rename and its hashing: failed with a reason, not a crash."""
    gone = aiodl.Result("http://h/a", tmp_path / "a", ok=True, size=3)
    found = await outcome(gone, tmp_path)
    assert (found.saved, found.reason) == (
        None,
        "saved, then unreadable for its digest: No such file or directory",
    )
