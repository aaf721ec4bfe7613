"""Plain-HTTP connections (aiodl._protocols.http.plain) against the real local test server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aiodl._protocols.driver import RemoteFile
from aiodl._protocols.http.plain import RawPool
from testing import random_bytes
from testing.servers.http import FaultServer

pytestmark = pytest.mark.anyio


class FileSink:
    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT)

    def fileno(self) -> int:
        return self.fd

    def written(self, offset: int, nbytes: int) -> None:
        pass

    def write(self, offset: int, chunks: list[bytes]) -> None:
        os.pwritev(self.fd, chunks, offset)


async def fetch(pool: RawPool, url: str, sink: FileSink) -> int:
    response = await pool.get(url, {"Range": "bytes=0-"})
    body = response.body(RemoteFile(url, None, True))
    offset = 0
    while moved := await body.copy_to(sink, offset, 1 << 20):
        offset += moved
    await body.aclose()
    await body.aclose()  # twice, as the engine does: the connection is pooled once
    return offset


@pytest.mark.parametrize("chunked", [False, True])
async def test_keep_alive_reuses_one_connection(
    http_server: FaultServer, tmp_path: Path, chunked: bool
) -> None:
    data = random_bytes(300_000)
    url = http_server.add("f.bin", data, chunked=chunked)
    pool = RawPool(timeout=5)
    sink = FileSink(tmp_path / "out")
    for _ in range(3):
        assert await fetch(pool, url, sink) == len(data)
        assert sum(len(idle) for idle in pool._idle.values()) == 1
    pool.close()
    os.close(sink.fd)
    assert (tmp_path / "out").read_bytes() == data
    assert len({seen.peer for seen in http_server.requests_for("f.bin")}) == 1
