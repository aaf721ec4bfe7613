"""aiodl.distributed on a real Dask LocalCluster (worker processes) against a local server."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client, LocalCluster

from aiodl._disk.manifest import Manifest
from aiodl.distributed import Summary, _shared, download_on_dask
from testing import random_bytes
from testing.servers.http import FaultServer

FILES = 2000


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def test_each_worker_thread_gets_a_share_of_the_host_limits() -> None:
    shared = _shared({"per_host": 8, "host_rate_limit": 1e6}, threads=4)
    assert (shared["per_host"], shared["host_rate_limit"]) == (2, 250_000)
    assert _shared({"per_host": 3}, threads=8)["per_host"] == 1  # never none at all


def test_exactly_one_cluster_must_be_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        download_on_dask([], tmp_path, tmp_path / "job.sqlite")


@pytest.mark.anyio
async def test_two_workers_one_killed_mid_job_every_file_done_once(
    client: Client, http_server: FaultServer, tmp_path: Path
) -> None:
    """2,000 files in partitions of 100 on two worker processes; after the first
    partition ends, a worker in the middle of one is SIGKILLed. Dask runs its partition
    again; every file ends correct and recorded done; a rerun sends no request."""
    files = {f"{n}.bin": random_bytes(64 * 1024 + n) for n in range(FILES)}
    urls = [http_server.add(name, data) for name, data in files.items()]
    killed: list[int] = []

    def kill_a_busy_worker(totals: Summary) -> None:
        if killed:
            return
        busy = [address for address, keys in client.processing().items() if keys]
        if not busy:
            return
        pids = client.run(os.getpid, workers=busy[:1])
        for pid in pids.values():
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    def job(on_partition: object = None) -> Summary:
        return download_on_dask(
            urls, tmp_path / "d", tmp_path / "job.sqlite", client=client,
            partition_size=100, on_partition=on_partition, sync=False,
        )  # fmt: skip

    loop = asyncio.get_running_loop()
    summary = await loop.run_in_executor(None, job, kill_a_busy_worker)
    assert len(killed) == 1
    assert (summary.done, summary.failed, summary.partitions) == (FILES, 0, FILES // 100)
    for name, data in files.items():
        assert hashlib.sha256((tmp_path / "d" / name).read_bytes()).digest() == (
            hashlib.sha256(data).digest()
        )
    manifest = Manifest(tmp_path / "job.sqlite")
    assert manifest.counts() == {"done": FILES, "failed": 0, "pending": 0}
    manifest.close()

    asked = len(http_server.seen)
    again = await loop.run_in_executor(None, job)
    assert (again.skipped, again.done, again.partitions) == (FILES, 0, 0)
    assert len(http_server.seen) == asked


@pytest.mark.anyio
async def test_cli_dask_local_runs_a_manifest_job(http_server: FaultServer, tmp_path: Path) -> None:
    files = {f"{n}.txt": b"%d" % n for n in range(50)}
    listing = tmp_path / "urls.txt"
    listing.write_text("".join(http_server.add(name, data) + "\n" for name, data in files.items()))
    job = tmp_path / "job.sqlite"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiodl", "--dask-local", "2", "--manifest", str(job),
        "-i", str(listing), "-d", str(tmp_path / "d"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert "50 ok, 0 failed, 0 skipped; 1 partitions" in err.decode()
    assert {name: (tmp_path / "d" / name).read_bytes() for name in files} == files


@pytest.mark.anyio
async def test_cli_cluster_without_a_manifest_is_a_usage_error(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiodl", "--dask-local", "2", "http://127.0.0.1:9/x",
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await process.communicate()
    assert process.returncode == 2
    assert b"run a --manifest job" in err
