"""Server faults over real sockets: each test names a fault and asserts what aiodl did."""

from __future__ import annotations

import gzip
import time
from pathlib import Path
from typing import Any

import pytest

import aiodl
from testing import FAST_SPLIT, MiB, assert_nothing_saved, assert_saved, random_bytes, sha
from testing.servers.http import FaultServer

pytestmark = pytest.mark.anyio

FAST = FAST_SPLIT
RETRY_ONCE: dict[str, Any] = {**FAST, "retries": 1}


async def test_segmented_download_is_identical(http_server: FaultServer, tmp_path: Path) -> None:
    data = random_bytes(4 * MiB + 123)
    url = http_server.add("big.bin", data)
    result = await aiodl.download(url, tmp_path, **FAST)
    assert_saved(result, data)
    starts = {seen.range_start for seen in http_server.requests_for("big.bin")}
    assert len(starts) >= 4


async def test_range_ignored_falls_back_to_one_stream(
    http_server: FaultServer, tmp_path: Path
) -> None:
    data = random_bytes(3 * MiB)
    url = http_server.add("whole.bin", data, ignore_range=True)
    result = await aiodl.download(url, tmp_path, **FAST)
    assert_saved(result, data)
    assert len(http_server.requests_for("whole.bin")) == 1


async def test_wrong_content_range_is_never_spliced(
    http_server: FaultServer, tmp_path: Path
) -> None:
    data = random_bytes(3 * MiB)
    url = http_server.add("shifted.bin", data, wrong_range_after=0)
    result = await aiodl.download(url, tmp_path, **FAST)
    assert_saved(result, data)
    assert http_server.requests_for("shifted.bin")[-1].headers.get("Range") is None


async def test_short_body_then_success_resumes_the_segment(
    http_server: FaultServer, tmp_path: Path
) -> None:
    data = random_bytes(2 * MiB)
    cut = 300_000
    url = http_server.add("short.bin", data, truncate_at=cut, truncate_times=1)
    result = await aiodl.download(url, tmp_path, **FAST)
    assert_saved(result, data)
    retried_from = [s.range_start for s in http_server.requests_for("short.bin")]
    assert any(start is not None and start >= cut for start in retried_from[1:])


async def test_persistent_short_body_fails_and_leaves_nothing(
    http_server: FaultServer, tmp_path: Path
) -> None:
    url = http_server.add("broken.bin", random_bytes(2 * MiB), truncate_at=1_500_000)
    result = (await aiodl.download_many([url], tmp_path, retries=2, **FAST))[0]
    assert not result.ok
    assert isinstance(result.error, aiodl.TransferError)
    assert_nothing_saved(tmp_path)


@pytest.mark.parametrize("status", [503, 429])
async def test_retry_after_seconds_is_honoured(
    http_server: FaultServer, tmp_path: Path, status: int
) -> None:
    data = random_bytes(1000)
    url = http_server.add("busy.bin", data, statuses=[status], retry_after="1")
    result = await aiodl.download(url, tmp_path, **FAST)
    assert_saved(result, data)
    first, second = http_server.requests_for("busy.bin")
    assert second.at - first.at >= 1.0


@pytest.mark.parametrize("status", [503, 429])
async def test_retry_after_http_date_is_honoured(
    http_server: FaultServer, tmp_path: Path, status: int
) -> None:
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    when = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    data = random_bytes(1000)
    url = http_server.add("date.bin", data, statuses=[status], retry_after=when)
    result = await aiodl.download(url, tmp_path, **FAST)
    assert_saved(result, data)
    first, second = http_server.requests_for("date.bin")
    assert second.at - first.at >= 1.0  # the date has one-second resolution


async def test_404_in_a_batch_keeps_order_and_others(
    http_server: FaultServer, tmp_path: Path
) -> None:
    files = [random_bytes(5000) for _ in range(2)]
    urls = [
        http_server.add("a.bin", files[0]),
        http_server.url("nope"),
        http_server.add("c.bin", files[1]),
    ]
    results = await aiodl.download_many(urls, tmp_path, **FAST)
    assert [r.url for r in results] == urls
    assert_saved(results[0], files[0])
    assert_saved(results[2], files[1])
    error = results[1].error
    assert isinstance(error, aiodl.HTTPStatusError)
    assert error.status == 404
    assert len(http_server.requests_for("nope")) == 1  # a 404 is not retried


async def test_content_disposition_traversal_stays_inside_dest(
    http_server: FaultServer, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    data = random_bytes(100)
    url = http_server.add("x", data, content_disposition='attachment; filename="../../evil.sh"')
    result = await aiodl.download(url, dest, **FAST)
    assert result.path == (dest / "evil.sh").resolve()
    assert_saved(result, data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest"]


async def test_request_path_escaping_dest_is_refused(
    http_server: FaultServer, tmp_path: Path
) -> None:
    url = http_server.add("y", b"data")
    result = (await aiodl.download_many([aiodl.Request(url, "../y")], tmp_path / "d"))[0]
    assert isinstance(result.error, aiodl.UnsafePathError)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


async def test_cross_origin_redirect_drops_credentials(
    http_server: FaultServer, other_server: FaultServer, tmp_path: Path
) -> None:
    data = random_bytes(1000)
    target = other_server.add("real.bin", data)
    url = http_server.add("moved.bin", b"", redirect_to=target)
    result = await aiodl.download(
        url, tmp_path, auth=("alice", "s3cret"), headers={"X-Api-Key": "k3y", "X-Trace": "1"}
    )
    assert result.path is not None
    assert result.path.name == "moved.bin"
    assert_saved(result, data)
    sent_first = http_server.requests_for("moved.bin")[0].headers
    sent_after = other_server.requests_for("real.bin")[0].headers
    assert sent_first["Authorization"].startswith("Basic ")
    assert sent_first["X-Api-Key"] == "k3y"
    assert "Authorization" not in sent_after
    assert "X-Api-Key" not in sent_after
    assert sent_after["X-Trace"] == "1"


async def test_same_origin_redirect_keeps_credentials(
    http_server: FaultServer, tmp_path: Path
) -> None:
    data = random_bytes(1000)
    target = http_server.add("here.bin", data)
    url = http_server.add("alias.bin", b"", redirect_to=target)
    await aiodl.download(url, tmp_path, auth=("alice", "s3cret"))
    assert "Authorization" in http_server.requests_for("here.bin")[0].headers


async def test_redirect_loop_fails_clearly(http_server: FaultServer, tmp_path: Path) -> None:
    url = http_server.add("loop", b"", redirect_to="/loop")
    result = (await aiodl.download_many([url], tmp_path, max_redirects=3))[0]
    assert result.error is not None
    assert "redirects" in str(result.error)
    assert len(http_server.requests_for("loop")) == 4


async def test_stalled_body_hits_the_read_timeout(http_server: FaultServer, tmp_path: Path) -> None:
    url = http_server.add("stall.bin", random_bytes(MiB), stall_at=100_000)
    result = (await aiodl.download_many([url], tmp_path, timeout=0.3, retries=1, **FAST))[0]
    assert isinstance(result.error, aiodl.DownloadTimeout)
    assert_nothing_saved(tmp_path)


async def test_stall_once_then_success(http_server: FaultServer, tmp_path: Path) -> None:
    data = random_bytes(MiB)
    url = http_server.add("stall1.bin", data, stall_at=100_000, stall_times=1)
    result = await aiodl.download(url, tmp_path, timeout=0.3, **FAST)
    assert_saved(result, data)


async def test_head_405_does_not_matter(http_server: FaultServer, tmp_path: Path) -> None:
    data = random_bytes(2 * MiB)
    url = http_server.add("nohead.bin", data, head_status=405)
    result = await aiodl.download(url, tmp_path, **FAST)
    assert_saved(result, data)
    assert http_server.requests_for("nohead.bin", "HEAD") == []


async def test_unknown_size_chunked_body(http_server: FaultServer, tmp_path: Path) -> None:
    data = random_bytes(MiB + 7)
    url = http_server.add("chunked.bin", data, chunked=True, ignore_range=True)
    result = await aiodl.download(url, tmp_path, **FAST)
    assert_saved(result, data)
    assert result.size == len(data)


async def test_client_errors_are_not_retried(http_server: FaultServer, tmp_path: Path) -> None:
    url = http_server.add("forbidden.bin", b"x", statuses=[403])
    result = (await aiodl.download_many([url], tmp_path, **FAST))[0]
    assert isinstance(result.error, aiodl.HTTPStatusError)
    assert result.error.status == 403
    assert len(http_server.requests_for("forbidden.bin")) == 1


async def test_a_file_waiting_out_retry_after_lends_its_connection(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """One connection in all: while the first file waits out Retry-After, the second is
    fetched, instead of the connection sitting idle for the whole wait."""
    busy = http_server.add("busy.bin", b"later", statuses=[503], retry_after="1")
    free = http_server.add("free.bin", b"now")
    results = await aiodl.download_many([busy, free], tmp_path, connections=1, backoff=0.01)
    assert [r.ok for r in results] == [True, True]
    busy_tries = http_server.requests_for("busy.bin")
    [free_get] = http_server.requests_for("free.bin")
    assert busy_tries[0].at < free_get.at < busy_tries[1].at


async def test_a_far_slower_connection_is_replaced(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """Four segments, one served at 50 KB/s: too short to split, its rest would take 40 s
    on that one connection. Once the others are done and it has been measured for a
    second, its rest goes to a new connection and the file completes."""
    data = random_bytes(8 * MiB)
    url = http_server.add("lane.bin", data, slow_from=4 * MiB)
    began = time.monotonic()
    result = await aiodl.download(url, tmp_path, split=4, min_segment_size=MiB)
    assert result.ok
    assert time.monotonic() - began < 15
    assert sha((tmp_path / "lane.bin").read_bytes()) == sha(data)
    starts = [seen.range_start for seen in http_server.requests_for("lane.bin")]
    assert any(start is not None and 4 * MiB < start < 6 * MiB for start in starts)


async def test_retry_after_beyond_max_retry_wait_fails_at_once(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """A 429 asking for an hour (over max_retry_wait) is not waited out: the file fails at
    once with the status and the wait asked for, instead of holding the batch."""
    url = http_server.add("later.bin", b"x", statuses=[429], retry_after="3600")
    result = (await aiodl.download_many([url], tmp_path, **FAST))[0]
    assert isinstance(result.error, aiodl.HTTPStatusError)
    assert (result.error.status, result.error.retry_after) == (429, 3600.0)
    assert len(http_server.requests_for("later.bin")) == 1
    assert_nothing_saved(tmp_path)


@pytest.mark.parametrize("hops", [3, 4])
async def test_redirect_limit_is_max_redirects(
    http_server: FaultServer, tmp_path: Path, hops: int
) -> None:
    """A chain of exactly max_redirects hops is followed; one hop more fails clearly, once
    (not retried), without requesting the target."""
    data = random_bytes(1000)
    url = http_server.add("end.bin", data)
    for hop in range(hops):
        url = http_server.add(f"hop{hop}", b"", redirect_to=url)
    result = (await aiodl.download_many([url], tmp_path, max_redirects=3, **FAST))[0]
    if hops == 3:
        assert_saved(result, data)
        return
    assert result.error is not None
    assert "more than 3 redirects" in str(result.error)
    assert len(http_server.requests_for("hop3")) == 1
    assert http_server.requests_for("end.bin") == []
    assert_nothing_saved(tmp_path)


async def test_range_ignored_after_the_probe_restarts_as_one_stream(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """The probe (bytes=0-) gets a 206, every later range a 200 with the whole file: no
    full body is spliced in at a segment's offset; the file restarts as one stream."""
    data = random_bytes(2 * MiB)
    url = http_server.add("fickle.bin", data, ignore_range_from=1)
    result = await aiodl.download(url, tmp_path, **FAST)
    assert_saved(result, data)
    assert http_server.requests_for("fickle.bin")[-1].headers.get("Range") is None


async def test_head_that_lies_about_the_size_is_never_asked(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """HEAD says 5 bytes; the GETs serve 2 MiB. The size comes from the GET."""
    data = random_bytes(2 * MiB)
    url = http_server.add("liar.bin", data, head_size=5)
    result = await aiodl.download(url, tmp_path, **FAST)
    assert_saved(result, data)
    assert result.size == len(data)
    assert http_server.requests_for("liar.bin", "HEAD") == []


@pytest.mark.parametrize(
    "fault",
    [{"range_cap": 300_000}, {"wrong_range_after": -1}],
    ids=["capped at 300 KB", "shifted by one"],
)
async def test_probe_answered_with_another_range_is_fetched_without_ranges(
    http_server: FaultServer, tmp_path: Path, fault: dict[str, int]
) -> None:
    """The first request (``Range: bytes=0-``) answered 206 with another Content-Range:
    capped (``bytes 0-299999/2000000``, as some CDNs do) or shifted. Every file still
    gets a Result: the file is asked for again without Range, fetched as one stream, and
    equals the source; the last request carries no Range."""
    data = random_bytes(2_000_000)
    url = http_server.add("odd.bin", data, **fault)
    result = (await aiodl.download_many([url], tmp_path, **RETRY_ONCE))[0]
    assert_saved(result, data)
    assert "Range" not in http_server.requests_for("odd.bin")[-1].headers


@pytest.mark.parametrize("kind", ["random", "text"])
async def test_gzip_on_ranged_responses_is_saved_as_sent_from_one_stream(
    http_server: FaultServer, tmp_path: Path, kind: str
) -> None:
    """A server that gzips every body after slicing the range (``Content-Encoding: gzip``,
    chunked) although aiodl asked for identity: coded slices are never spliced. The
    coded 206 makes aiodl ask again without Range, and the coded whole body is saved as
    sent, as curl and aria2c save it (it decompresses to the source), from one request."""
    data = random_bytes(2 * MiB) if kind == "random" else random_bytes(MiB).hex().encode()
    url = http_server.add("zipped.bin", data, gzip=True)
    result = (await aiodl.download_many([url], tmp_path, **RETRY_ONCE))[0]
    assert result.ok, result.error
    assert result.path is not None
    assert gzip.decompress(result.path.read_bytes()) == data
    asked = http_server.requests_for("zipped.bin")
    assert [seen.range_start for seen in asked] == [0, None]
