"""One file from several sources at once (Request.mirrors), over real local servers."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

import aiodl
from testing import MiB, random_bytes, sha
from testing.servers.ftp import RunningFTP
from testing.servers.http import FaultServer, running

pytestmark = pytest.mark.anyio
# Small segments, so a file of a few MiB is spread over every source.
SPREAD: dict[str, Any] = {
    "split": 6,
    "min_segment_size": 256 << 10,
    "backoff": 0.05,
    "progress": False,
}


@asynccontextmanager
async def servers(count: int) -> AsyncIterator[list[FaultServer]]:
    """``count`` HTTP servers on their own ports: each one another host to aiodl."""
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(running()) for _ in range(count)]


async def test_three_mirrors_one_slow_one_breaking_still_give_the_file(tmp_path: Path) -> None:
    data = random_bytes(12 * MiB)
    async with servers(3) as (good, slow, breaking):
        urls = [
            good.add("f.bin", data, rate=8 * MiB),
            slow.add("f.bin", data, rate=8 * MiB // 3),  # three times slower
            breaking.add("f.bin", data, rate=8 * MiB, fail_after=2 * MiB),
        ]
        result = await aiodl.download(aiodl.Request(urls[0], mirrors=urls[1:]), tmp_path, **SPREAD)
    assert result.ok
    assert result.path is not None
    assert sha(result.path.read_bytes()) == sha(data)
    got = result.delivered
    assert set(got) == set(urls)  # all three were used
    assert sum(got.values()) == len(data)  # every byte once, from someone
    assert got[urls[1]] < got[urls[0]]  # the slow mirror delivered less
    assert got[urls[2]] <= 2 * MiB < got[urls[0]]  # the broken one stopped at its breakdown


async def test_a_mirror_with_another_size_is_rejected(tmp_path: Path) -> None:
    data = random_bytes(4 * MiB)
    async with servers(2) as (good, other):
        first = good.add("f.bin", data)
        wrong = other.add("f.bin", data + b"newer version")
        result = await aiodl.download(aiodl.Request(first, mirrors=[wrong]), tmp_path, **SPREAD)
        asked = len(other.requests_for("f.bin"))
    assert result.ok
    assert result.path is not None
    assert result.path.read_bytes() == data
    assert set(result.delivered) == {first}  # nothing from the other version
    assert asked == 1  # its first answer was enough to reject it


async def test_a_mirror_with_another_etag_is_rejected_without_a_checksum(tmp_path: Path) -> None:
    data = random_bytes(4 * MiB)
    changed = bytes(b ^ 0xFF for b in data[:4096]) + data[4096:]  # same size, other bytes
    async with servers(2) as (good, other):
        first = good.add("f.bin", data)
        wrong = other.add("f.bin", changed)  # the server's ETag is made from the bytes
        result = await aiodl.download(aiodl.Request(first, mirrors=[wrong]), tmp_path, **SPREAD)
    assert result.ok
    assert result.path is not None
    assert result.path.read_bytes() == data
    assert set(result.delivered) == {first}


async def test_a_failed_checksum_names_the_ranges_each_source_sent(tmp_path: Path) -> None:
    """With a checksum, equal sizes suffice to use a mirror; if the bytes then disagree,
    the error says which source sent what, so the user can leave the bad one out."""
    data = random_bytes(4 * MiB)
    bad = data[: 3 * MiB] + bytes(MiB)  # the last MiB zeroed
    async with servers(2) as (good, other):
        first = good.add("f.bin", data, etag=None)
        wrong = other.add("f.bin", bad, etag=None)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        request = aiodl.Request(first, mirrors=[wrong], checksum=digest)
        [result] = await aiodl.download_many([request], tmp_path, **SPREAD)
    assert not result.ok
    assert isinstance(result.error, aiodl.IntegrityError)
    message = str(result.error)
    assert f"{first} sent " in message
    assert f"{wrong} sent " in message
    assert not (tmp_path / "f.bin").exists()


async def test_a_dead_first_url_leaves_the_file_to_its_mirror(tmp_path: Path) -> None:
    data = random_bytes(2 * MiB)
    async with servers(2) as (dead, alive):
        first = dead.add("f.bin", data, statuses=[500] * 10)
        mirror = alive.add("f.bin", data)
        result = await aiodl.download(aiodl.Request(first, mirrors=[mirror]), tmp_path, **SPREAD)
    assert result.ok
    assert result.path is not None
    assert result.path.read_bytes() == data
    assert set(result.delivered) == {mirror}


async def test_an_ftp_mirror_of_an_http_file(tmp_path: Path, ftp: RunningFTP) -> None:
    """HTTP and FTP mixed: the sizes agree, so the FTP server serves segments too."""
    data = random_bytes(4 * MiB)
    (ftp.root / "f.bin").write_bytes(data)
    async with servers(1) as (web,):
        first = web.add("f.bin", data, rate=4 * MiB)
        mirror = ftp.url("f.bin")
        result = await aiodl.download(
            aiodl.Request(first, mirrors=[mirror]), tmp_path / "out", **SPREAD
        )
    assert result.ok
    assert result.path is not None
    assert result.path.read_bytes() == data
    assert set(result.delivered) == {first, mirror}
