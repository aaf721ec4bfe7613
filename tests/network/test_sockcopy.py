"""Socket-to-file copies (aiodl._network.sockcopy) over real connected sockets."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest

from aiodl._network.sockcopy import SocketReader
from testing import MiB

pytestmark = pytest.mark.anyio


class FileSink:
    """A plain file standing in for the writer's PartFile."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT)
        self.counted = 0

    def fileno(self) -> int:
        return self.fd

    def written(self, offset: int, nbytes: int) -> None:
        self.counted += nbytes

    def write(self, offset: int, chunks: list[bytes]) -> None:
        raise AssertionError("socket copies write through the descriptor")


def connected_pair() -> tuple[socket.socket, socket.socket]:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    return ours, theirs


@pytest.mark.parametrize("expected", [None, 1000], ids=["splice", "buffer"])
async def test_copies_arrive_at_their_offsets(tmp_path: Path, expected: int | None) -> None:
    data = os.urandom(3 * MiB + 7)
    ours, theirs = connected_pair()
    reader = SocketReader(ours, timeout=5, expected=expected)
    sink = FileSink(tmp_path / "out")
    sender = asyncio.get_running_loop().run_in_executor(None, theirs.sendall, data)
    offset = 1000
    while True:
        moved = await reader.copy_to(sink, offset, 300_000)
        if not moved:
            break
        assert moved <= 300_000
        offset += moved
        if offset - 1000 == len(data):
            theirs.close()
    await sender
    reader.close()
    assert offset - 1000 == len(data) == sink.counted
    os.close(sink.fd)
    assert (tmp_path / "out").read_bytes()[1000:] == data


async def test_at_end_tells_a_closed_peer_from_more_data(tmp_path: Path) -> None:
    ours, theirs = connected_pair()
    reader = SocketReader(ours, timeout=5)
    theirs.sendall(b"x")
    assert not await reader.at_end()
    theirs.close()
    assert await reader.at_end()
    reader.close()


async def test_silence_times_out(tmp_path: Path) -> None:
    ours, theirs = connected_pair()
    reader = SocketReader(ours, timeout=0.05)
    with pytest.raises(TimeoutError):
        await reader.copy_to(FileSink(tmp_path / "out"), 0, 100)
    reader.close()
    theirs.close()
