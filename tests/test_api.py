"""The public entry points over real sockets: ``stream`` and lazy (async) sources."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from pathlib import Path

import pytest

import aiodl
from testing import random_bytes
from testing.servers.http import FaultServer

pytestmark = pytest.mark.anyio


async def test_stream_yields_each_result_when_its_file_is_done(
    http_server: FaultServer, tmp_path: Path
) -> None:
    slow = http_server.add("slow.bin", random_bytes(200_000), rate=200_000)  # about 1 s
    fast = [http_server.add(f"f{i}.bin", random_bytes(1000)) for i in range(5)]
    order = [r async for r in aiodl.stream([slow, *fast], tmp_path, connections=2)]
    assert sorted(r.index for r in order) == list(range(6))
    assert order[-1].index == 0  # the slow first source came last, not first
    assert all(r.ok for r in order)
    assert {r.url for r in order} == {slow, *fast}


async def test_a_huge_generator_starts_at_once_and_is_never_materialised(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """Ten million sources: the first result comes after a handful were drawn."""
    url = http_server.add("tiny", b"t")
    drawn = 0

    def sources() -> Iterator[aiodl.Request]:
        nonlocal drawn
        for i in range(10_000_000):
            drawn += 1
            yield aiodl.Request(url, f"t{i}")

    async with aclosing(aiodl.stream(sources(), tmp_path, connections=4)) as results:
        first = await anext(results)
    assert first.ok
    # 2 x connections files in hand, as many queued, one waiting to be queued, and the
    # few taken since the first finished: bounded by the connections, not the sources.
    assert drawn <= 5 * 4


async def test_download_many_takes_an_async_iterable(
    http_server: FaultServer, tmp_path: Path
) -> None:
    urls = [http_server.add(f"a{i}.bin", random_bytes(100)) for i in range(20)]

    async def sources() -> AsyncIterator[str]:
        for url in urls:
            await asyncio.sleep(0)  # e.g. rows arriving from a database cursor
            yield url

    results = await aiodl.download_many(sources(), tmp_path, connections=4)
    assert [r.url for r in results] == urls
    assert [r.index for r in results] == list(range(20))


async def test_closing_a_stream_early_cancels_the_rest_cleanly(
    http_server: FaultServer, tmp_path: Path
) -> None:
    quick = http_server.add("quick.bin", b"q" * 10)
    stuck = http_server.add("stuck.bin", random_bytes(1_000_000), stall_at=100_000)
    async with aclosing(aiodl.stream([quick, stuck], tmp_path, connections=2)) as results:
        first = await anext(results)
    assert first.url == quick
    assert not (tmp_path / "stuck.bin").exists()  # nothing half-done at the final path
    leftovers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not [t for t in leftovers if "aiodl" in repr(t.get_coro())]


async def test_stream_raises_an_invalid_option(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="connections"):
        async for _ in aiodl.stream(["http://127.0.0.1:9/x"], tmp_path, connections=0):
            pass
