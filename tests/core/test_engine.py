"""The scheduler over real sockets: bounds, ordering, skipping, events and misuse."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import aiodl
from testing import random_bytes
from testing.servers.http import FaultServer

pytestmark = pytest.mark.anyio


async def test_connections_bound_all_requests(http_server: FaultServer, tmp_path: Path) -> None:
    urls = [http_server.add(f"f{i}.bin", random_bytes(300_000)) for i in range(30)]
    results = await aiodl.download_many(urls, tmp_path, connections=3, per_host=8)
    assert all(r.ok for r in results)
    assert http_server.max_in_flight <= 3


async def test_per_host_bounds_one_host(http_server: FaultServer, tmp_path: Path) -> None:
    data = random_bytes(6 << 20)
    url = http_server.add("big.bin", data)
    result = await aiodl.download(url, tmp_path, split=8, per_host=2, min_segment_size=1 << 19)
    assert result.ok
    assert http_server.max_in_flight <= 2


async def test_one_slot_per_host_still_finishes_a_split_file(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """Extra segment workers wait for a slot the file itself holds; they must give up."""
    data = random_bytes(4 << 20)
    url = http_server.add("one.bin", data)
    download = aiodl.download(url, tmp_path, split=4, per_host=1, min_segment_size=1 << 19)
    result = await asyncio.wait_for(download, timeout=60)
    assert result.ok
    assert http_server.max_in_flight == 1


async def test_many_sources_are_pulled_lazily(http_server: FaultServer, tmp_path: Path) -> None:
    """A generator is consumed as workers free up, not materialised up front."""
    url = http_server.add("tiny", b"t")
    pulled = 0

    def sources() -> Iterator[aiodl.Request]:
        nonlocal pulled
        for i in range(50):
            pulled += 1
            yield aiodl.Request(url, f"t{i}")

    results = await aiodl.download_many(sources(), tmp_path, connections=4)
    assert pulled == 50
    assert [r.path.name if r.path else None for r in results] == [f"t{i}" for i in range(50)]


async def test_complete_existing_file_is_skipped(http_server: FaultServer, tmp_path: Path) -> None:
    """A server that tells no time, ETag or digest leaves only the size (unverified)."""
    data = random_bytes(3000)
    url = http_server.add("same.bin", data, etag=None)
    (tmp_path / "same.bin").write_bytes(data)
    result = await aiodl.download(url, tmp_path)
    assert result.skipped
    assert result.unverified
    assert result.ok
    overwritten = await aiodl.download(url, tmp_path, overwrite=True)
    assert not overwritten.skipped
    assert overwritten.ok


async def test_incomplete_existing_file_is_replaced(
    http_server: FaultServer, tmp_path: Path
) -> None:
    data = random_bytes(3000)
    url = http_server.add("grown.bin", data)
    (tmp_path / "grown.bin").write_bytes(data[:100])
    result = await aiodl.download(url, tmp_path)
    assert not result.skipped
    assert (tmp_path / "grown.bin").read_bytes() == data


async def test_symlink_at_target_is_not_followed(http_server: FaultServer, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "link.bin").symlink_to(outside)
    url = http_server.add("link.bin", b"attack")
    result = (await aiodl.download_many([url], dest))[0]
    assert isinstance(result.error, aiodl.UnsafePathError)
    assert outside.read_text() == "keep me"


async def test_empty_file(http_server: FaultServer, tmp_path: Path) -> None:
    result = await aiodl.download(http_server.add("empty", b""), tmp_path)
    assert result.ok
    assert result.size == 0
    assert (tmp_path / "empty").read_bytes() == b""


async def test_declared_size_mismatch_fails(http_server: FaultServer, tmp_path: Path) -> None:
    url = http_server.add("sized.bin", b"12345")
    result = (await aiodl.download_many([aiodl.Request(url, size=4)], tmp_path))[0]
    assert isinstance(result.error, aiodl.IntegrityError)
    assert list(tmp_path.iterdir()) == []


async def test_unsupported_scheme_is_a_failed_result(tmp_path: Path) -> None:
    result = (await aiodl.download_many(["gopher://127.0.0.1/x"], tmp_path))[0]
    assert not result.ok
    assert "scheme" in str(result.error)


async def test_invalid_option_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="connections"):
        await aiodl.download_many([], tmp_path, connections=0)
    with pytest.raises(TypeError, match="bogus"):
        await aiodl.download_many([], tmp_path, bogus=1)


async def test_invalid_source_type_raises(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="sources"):
        await aiodl.download_many([42], tmp_path)  # type: ignore[list-item]


async def test_progress_events_add_up(http_server: FaultServer, tmp_path: Path) -> None:
    data = random_bytes(3 << 20)
    url = http_server.add("p.bin", data)
    events: list[aiodl.Event] = []
    await aiodl.download(url, tmp_path, progress=events.append, min_segment_size=1 << 19)
    started = [e for e in events if isinstance(e, aiodl.Started)]
    advanced = sum(e.nbytes for e in events if isinstance(e, aiodl.Advanced))
    finished = [e for e in events if isinstance(e, aiodl.Finished)]
    assert started[0].total == len(data)
    assert advanced == len(data)
    assert finished[0].result.ok


async def test_runs_on_the_callers_loop(http_server: FaultServer, tmp_path: Path) -> None:
    """Other tasks of the caller's loop keep running while a download is in flight."""
    data = random_bytes(2 << 20)
    url = http_server.add("loop.bin", data)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.get_running_loop().create_task(ticker())
    result = await aiodl.download(url, tmp_path)
    task.cancel()
    assert result.ok
    assert ticks > 10


async def test_download_raises_its_error(http_server: FaultServer, tmp_path: Path) -> None:
    with pytest.raises(aiodl.HTTPStatusError) as raised:
        await aiodl.download(http_server.url("missing"), tmp_path)
    assert raised.value.status == 404


async def test_password_never_in_results(http_server: FaultServer, tmp_path: Path) -> None:
    url = f"http://user:hunter22@127.0.0.1:{http_server.port}/missing"
    result = (await aiodl.download_many([url], tmp_path))[0]
    assert "hunter22" not in result.url
    assert "hunter22" not in str(result.error)


async def test_events_tell_success_from_failure(http_server: FaultServer, tmp_path: Path) -> None:
    ok = http_server.add("ok.bin", b"fine")
    events: list[aiodl.Event] = []
    results = await aiodl.download_many(
        [ok, http_server.url("gone")], tmp_path, progress=events.append
    )
    finished = [e for e in events if isinstance(e, aiodl.Finished)]
    failed = [e for e in events if isinstance(e, aiodl.Failed)]
    assert [e.index for e in finished] == [0]
    assert [e.index for e in failed] == [1]
    assert failed[0].result is results[1]
    assert all(r.seconds > 0 for r in results)


async def test_http_login_from_netrc(http_server: FaultServer, tmp_path: Path) -> None:
    token = "Basic " + base64.b64encode(b"alice:wonder").decode()
    url = http_server.add("private.bin", b"secret data", authorization=token)
    rc = tmp_path / "netrc"
    rc.write_text("machine 127.0.0.1 login alice password wonder\n")
    rc.chmod(0o600)
    result = await aiodl.download(url, tmp_path / "a", netrc=rc)
    assert result.ok
    [refused] = await aiodl.download_many([url], tmp_path / "b")
    assert isinstance(refused.error, aiodl.HTTPStatusError)
    assert refused.error.status == 401


async def test_rate_limit_holds_the_bandwidth(http_server: FaultServer, tmp_path: Path) -> None:
    """5 MB/s on 20 MB: 3.6-4.4 s (the burst is a tenth of a second), over four segments."""
    url = http_server.add("capped.bin", random_bytes(20_000_000))
    began = time.monotonic()
    result = await aiodl.download(url, tmp_path, rate_limit=5_000_000, split=4)
    elapsed = time.monotonic() - began
    assert result.ok
    assert 3.6 <= elapsed <= 4.4


async def test_the_same_url_twice_in_one_run_is_fetched_once(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """The second waits for the first copy, then finds it complete (skipped)."""
    data = random_bytes(300_000)
    url = http_server.add("twice.bin", data)
    results = await aiodl.download_many([url, url], tmp_path)
    assert [r.ok for r in results] == [True, True]
    assert sorted(r.skipped for r in results) == [False, True]
    assert (tmp_path / "twice.bin").read_bytes() == data


async def test_two_sources_naming_one_target_at_once_do_not_overwrite(
    http_server: FaultServer, other_server: FaultServer, tmp_path: Path
) -> None:
    """Two files under one name, fetched at the same time: the one that takes the target
    first is saved whole, the other is refused with a clear reason (replacing it would
    leave a Result that says ok about the wrong bytes)."""
    data = {"a": random_bytes(300_000), "b": random_bytes(300_000)}
    urls = [
        http_server.add("data.csv", data["a"], rate=1_000_000),
        other_server.add("data.csv", data["b"], rate=1_000_000),
    ]
    results = await aiodl.download_many(urls, tmp_path)
    [saved] = [name for name, result in zip(data, results, strict=True) if result.ok]
    [refused] = [result for result in results if not result.ok]
    assert "already the target of" in str(refused.error)
    assert (tmp_path / "data.csv").read_bytes() == data[saved]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]
