"""Per-host politeness over real sockets: a Retry-After pauses the whole host, and
bandwidth caps hold per host."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import aiodl
from testing import random_bytes
from testing.servers.http import FaultServer

pytestmark = pytest.mark.anyio


async def test_retry_after_pauses_the_host_not_the_run(
    http_server: FaultServer, other_server: FaultServer, tmp_path: Path
) -> None:
    """A 429 with Retry-After: 2 on host A: A gets no request for 2 s (its other files
    wait too, though a connection is free), while host B goes on downloading."""
    busy = http_server.add("a0.bin", random_bytes(10_000), statuses=[429], retry_after="2")
    rest = [http_server.add(f"a{i}.bin", random_bytes(10_000)) for i in range(1, 4)]
    others = [other_server.add(f"b{i}.bin", random_bytes(50_000), rate=100_000) for i in range(6)]
    results = await aiodl.download_many(
        [busy, *rest, *others], tmp_path, per_host=1, connections=4, progress=False
    )
    assert all(r.ok for r in results)
    [refused] = [s for s in http_server.seen if s.path == "/a0.bin"][:1]
    after = [s.at for s in http_server.seen if s.at > refused.at]
    assert len(after) == 4  # a0 again, then a1..a3
    assert min(after) - refused.at >= 2.0  # nobody asked host A before the deadline
    during = [s for s in other_server.seen if refused.at < s.at < refused.at + 2.0]
    assert during  # host B was asked meanwhile: its files went on


async def test_host_rate_limit_caps_each_host_on_its_own(
    http_server: FaultServer, other_server: FaultServer, tmp_path: Path
) -> None:
    """2 MB/s per host, 4 MB from each of two hosts at once: about 2 s (both caps in
    parallel), where one shared 2 MB/s cap would take 4 s; the burst is 0.2 MB."""
    urls = [
        http_server.add("a.bin", random_bytes(4_000_000)),
        other_server.add("b.bin", random_bytes(4_000_000)),
    ]
    began = time.monotonic()
    results = await aiodl.download_many(
        urls, tmp_path, host_rate_limit=2_000_000, split=2, progress=False
    )
    elapsed = time.monotonic() - began
    assert all(r.ok for r in results)
    assert 1.7 <= elapsed <= 2.5


async def test_a_retry_after_above_max_retry_wait_does_not_hold_the_host(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """Found by the fault soak (benchmarks/soak.py): the file that got ``429 Retry-After:
    30`` failed at once (30 > max_retry_wait), but the 30 s still became the host's
    deadline, so every other file of that host waited 30 s (a day, for 86400)."""
    busy = http_server.add("busy.bin", random_bytes(1000), statuses=[429], retry_after="30")
    other = http_server.add("other.bin", random_bytes(1000))
    began = time.monotonic()
    results = await aiodl.download_many(
        [busy, other], tmp_path, max_retry_wait=2.0, connections=1, timeout=5
    )
    assert [r.ok for r in results] == [False, True]
    assert time.monotonic() - began < 10
