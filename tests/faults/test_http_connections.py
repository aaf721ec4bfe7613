"""Server faults around connections and requests over real sockets: resets, stalls right
after the head, a load balancer sending each request elsewhere, and 416 on resume.
Each test names a fault and asserts what aiodl did."""

from __future__ import annotations

from pathlib import Path

import pytest

import aiodl
from aiodl._disk.journal import Checkpoint, Journal
from aiodl._disk.names import part_name
from aiodl._disk.ranges import RangeSet
from testing import FAST_SPLIT as FAST
from testing import MiB, assert_nothing_saved, assert_saved, random_bytes
from testing.servers.http import FaultServer, running

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("times", [1, -1])
async def test_connection_reset_mid_body(
    http_server: FaultServer, tmp_path: Path, times: int
) -> None:
    """A TCP RST (not a FIN) 300 KB into the first segment: the rest of that segment is
    asked for again (not the whole file); a server that always resets there fails the
    file with a TransferError, and nothing is left."""
    data = random_bytes(2 * MiB)
    url = http_server.add("rst.bin", data, truncate_at=300_000, truncate_times=times, reset=True)
    result = (await aiodl.download_many([url], tmp_path, retries=2, **FAST))[0]
    if times == -1:
        assert isinstance(result.error, aiodl.TransferError)
        assert_nothing_saved(tmp_path)
        return
    assert_saved(result, data)
    first, *later = http_server.requests_for("rst.bin")
    assert first.headers["Range"] == "bytes=0-"
    assert any(
        seen.range_start is not None
        and seen.range_start <= 300_000
        and seen.headers["Range"] != "bytes=0-"
        for seen in later
    )


@pytest.mark.parametrize("times", [1, -1])
async def test_stall_right_after_the_headers(
    http_server: FaultServer, tmp_path: Path, times: int
) -> None:
    """The first response's head arrives (the file is Started with its size), then not
    one body byte: the read timeout ends the wait. A retry completes the file; a server
    that always stalls there fails it with DownloadTimeout, nothing left."""
    data = random_bytes(MiB)
    events: list[aiodl.Event] = []
    url = http_server.add("mute.bin", data, stall_at=0, stall_times=times)
    options = {**FAST, "timeout": 0.3, "retries": 1, "progress": events.append}
    result = (await aiodl.download_many([url], tmp_path, **options))[0]
    assert [e.total for e in events if isinstance(e, aiodl.Started)] == [len(data)]
    if times == 1:
        assert_saved(result, data)
    else:
        assert isinstance(result.error, aiodl.DownloadTimeout)
        assert_nothing_saved(tmp_path)


async def test_each_request_redirected_to_another_host(
    http_server: FaultServer, other_server: FaultServer, tmp_path: Path
) -> None:
    """A load balancer sends every GET to the next of two hosts serving the same file (same
    ETag): segments come from both, and the file is whole."""
    data = random_bytes(2 * MiB)
    async with running() as third:
        hosts = [other_server.add("f.bin", data), third.add("f.bin", data)]
        url = http_server.add("spread.bin", b"", redirect_cycle=hosts)
        result = await aiodl.download(url, tmp_path, **FAST)
        assert_saved(result, data)
        assert result.path is not None
        assert result.path.name == "spread.bin"
        for host in (other_server, third):
            assert any((seen.range_start or 0) > 0 for seen in host.requests_for("f.bin"))


async def test_hosts_behind_one_url_with_other_versions_are_never_mixed(
    http_server: FaultServer, other_server: FaultServer, tmp_path: Path
) -> None:
    """The same load balancer, but the second host holds another version (other bytes and
    ETag, same size): its ranges are refused, the file is fetched again once, meets the
    same mix, and fails with FileChangedError; nothing is saved."""
    async with running() as third:
        hosts = [
            other_server.add("f.bin", random_bytes(2 * MiB)),
            third.add("f.bin", random_bytes(2 * MiB)),
        ]
        url = http_server.add("mixed.bin", b"", redirect_cycle=hosts)
        result = (await aiodl.download_many([url], tmp_path, **FAST))[0]
    assert isinstance(result.error, aiodl.FileChangedError)
    assert_nothing_saved(tmp_path)


def journaled_part(dest: Path, name: str, url: str, data: bytes, upto: int, etag: str) -> None:
    """What a run stopped after a checkpoint leaves: its part file at full size holding
    the first ``upto`` bytes, and a journal row saying so."""
    (dest / part_name(name)).write_bytes(data[:upto] + bytes(len(data) - upto))
    journal = Journal(dest)
    journal.save(Checkpoint(name, url, len(data), etag, None, None, RangeSet([(0, upto)])))
    journal.close()


@pytest.mark.parametrize("times", [1, -1])
async def test_416_on_resume(http_server: FaultServer, tmp_path: Path, times: int) -> None:
    """The journal holds the first 400 KB; the server answers the resumed range (with a
    valid If-Range) 416 ``bytes */SIZE``. The journal's bytes are not trusted: the file
    is fetched from byte 0, once. It is saved whole; or, when every range gets 416, the
    Result fails with the 416 and nothing is left (no file, no part, no journal row)."""
    data = random_bytes(MiB)
    url = http_server.add("f.bin", data, range_416_times=times)
    etag = http_server.faults["f.bin"].etag
    assert etag is not None
    journaled_part(tmp_path, "f.bin", url, data, 400_000, etag)
    result = (await aiodl.download_many([url], tmp_path, **FAST))[0]
    resume, fresh, *_ = http_server.requests_for("f.bin")
    assert (resume.headers["Range"], resume.headers["If-Range"]) == ("bytes=400000-", etag)
    assert fresh.headers["Range"] == "bytes=0-"
    if times == 1:
        assert_saved(result, data)
        assert not result.resumed
        return
    assert isinstance(result.error, aiodl.HTTPStatusError)
    assert result.error.status == 416
    assert_nothing_saved(tmp_path)
