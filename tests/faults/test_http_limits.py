"""Limits a hostile or broken server cannot get past: declared sizes and ``max_size``
against bodies of unknown length, ``Result.unverified`` for close-delimited bodies,
``min_speed`` against trickles, and one deadline for a response head (slowloris)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

import aiodl
from testing import FAST_SPLIT as FAST
from testing import MiB, assert_nothing_saved, assert_saved, random_bytes, sha, whole
from testing.servers.http import FaultServer
from testing.servers.rawhttp import RawRequest, RawServer, head

pytestmark = pytest.mark.anyio
RETRY_ONCE: dict[str, Any] = {**FAST, "retries": 1}


async def test_close_delimited_body_cut_short_fails_a_declared_size(
    raw_server: RawServer, tmp_path: Path
) -> None:
    """A close-delimited body (no Content-Length, no chunking) that stops at 60 % of
    ``Request(size=N)``: the bytes received are checked against the declared size before
    the rename: IntegrityError, nothing saved."""
    data = random_bytes(MiB)
    url = raw_server.add("cut", whole(data[: len(data) * 6 // 10]))
    result = (await aiodl.download_many([aiodl.Request(url, size=len(data))], tmp_path, **FAST))[0]
    assert isinstance(result.error, aiodl.IntegrityError)
    assert_nothing_saved(tmp_path)


async def test_close_delimited_body_is_reported_unverified(
    raw_server: RawServer, tmp_path: Path
) -> None:
    """A body whose end only the connection's close marks is stored, and
    ``Result.unverified`` says nothing could confirm it whole; with a checksum, or with a
    Content-Length, it is False."""
    data = random_bytes(100_000)
    bare = raw_server.add("bare", whole(data))
    summed = aiodl.Request(raw_server.add("summed", whole(data)), checksum=f"sha256:{sha(data)}")
    sized = raw_server.add("sized", whole(data, f"Content-Length: {len(data)}"))
    results = await aiodl.download_many([bare, summed, sized], tmp_path, **FAST)
    for result in results:
        assert_saved(result, data)
    assert [r.unverified for r in results] == [True, False, False]


async def test_huge_body_for_a_declared_small_file_is_cut_off(
    raw_server: RawServer, tmp_path: Path
) -> None:
    """``Request(size=1000)`` and a body without a length that goes on (4 MiB, then
    the connection is held open): at most size + 1 bytes are read, then an
    IntegrityError at once ("larger than the 1000 bytes the request declares"), nothing
    saved."""
    data = random_bytes(4 * MiB)

    async def flood(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(head("200 OK") + data)
        await writer.drain()
        await raw_server.hang()
        return False

    request = aiodl.Request(raw_server.add("flood", flood), size=1000)
    async with asyncio.timeout(10):
        result = (await aiodl.download_many([request], tmp_path, **RETRY_ONCE, timeout=0.5))[0]
    assert isinstance(result.error, aiodl.IntegrityError)
    assert_nothing_saved(tmp_path)


@pytest.mark.parametrize("framing", ["chunked", "length"])
async def test_max_size_caps_every_body(
    http_server: FaultServer, tmp_path: Path, framing: str
) -> None:
    """``max_size=N`` fails a file announced larger at its first response, before a
    part file exists, and stops a body of unknown length at N + 1 bytes: IntegrityError
    naming max_size, nothing saved."""
    data = random_bytes(4 * MiB)
    chunked = framing == "chunked"
    url = http_server.add("big.bin", data, chunked=chunked, ignore_range=chunked)
    result = (await aiodl.download_many([url], tmp_path, max_size=MiB, **FAST))[0]
    assert isinstance(result.error, aiodl.IntegrityError)
    assert "max_size" in str(result.error)
    assert_nothing_saved(tmp_path)


async def test_trickle_below_min_speed_replaces_the_connection(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """A server trickles the first response (20 KB/s; each byte well within the read
    timeout), and with one segment no faster connection shows it up. ``min_speed``
    closes a connection measured below it over a second and asks again from the byte it
    reached: the second request starts past byte 0, is served fast, and the file
    completes in a few seconds instead of 52."""
    data = random_bytes(MiB)
    url = http_server.add("drip.bin", data, slow_from=0, slow_rate=20_000)
    began = time.monotonic()
    async with asyncio.timeout(10):
        result = await aiodl.download(url, tmp_path, **{**FAST, "split": 1}, min_speed=200_000)
    assert_saved(result, data)
    assert time.monotonic() - began < 5
    assert any((seen.range_start or 0) > 0 for seen in http_server.requests_for("drip.bin"))


async def test_trickle_everywhere_fails_in_bounded_time(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """Every response trickles: with ``min_speed`` each try ends after a second below
    it; the trickle does not count as progress, so after ``retries`` the file fails
    with DownloadTimeout (TooSlow) in seconds, and nothing is at the final path."""
    url = http_server.add("drip.bin", random_bytes(MiB), rate=20_000)
    async with asyncio.timeout(10):
        result = (
            await aiodl.download_many(
                [url], tmp_path, **{**RETRY_ONCE, "split": 1}, min_speed=200_000
            )
        )[0]
    assert isinstance(result.error, aiodl.TooSlow)
    assert not (tmp_path / "drip.bin").exists()


async def test_trickled_response_head_times_out(raw_server: RawServer, tmp_path: Path) -> None:
    """Slowloris: a status line, then one header line every 50 ms, for ever. The whole
    head must arrive within ``timeout`` (one deadline, not per read): DownloadTimeout,
    retried like any timeout, then the file fails with nothing saved."""

    async def drip(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\n")
        while True:
            writer.write(b"X-Drip: 1\r\n")
            await writer.drain()
            await asyncio.sleep(0.05)

    url = raw_server.add("drip", drip)
    async with asyncio.timeout(3):
        result = (await aiodl.download_many([url], tmp_path, **RETRY_ONCE, timeout=0.3))[0]
    assert isinstance(result.error, aiodl.DownloadTimeout)
    assert_nothing_saved(tmp_path)
