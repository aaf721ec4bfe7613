#!/usr/bin/env python3
"""W9's naive reference: one file over HTTPS in N ranged connections, each an asyncio
``BufferedProtocol`` over the stdlib ``ssl`` whose ``get_buffer`` hands out one reusable
1 MiB buffer, written at its offset with ``os.pwrite``. No retries, no checks beyond the
status: the floor of what asyncio and ``ssl`` can do, not a downloader.

    naive_tls.py URL OUT CACERT [CONNECTIONS]
"""

from __future__ import annotations

import asyncio
import os
import ssl
import sys
from urllib.parse import urlsplit

BUFFER = 1 << 20


class Ranged(asyncio.BufferedProtocol):
    """GET one range; the head is parsed out of the first buffer, the rest pwritten."""

    def __init__(self, fd: int, offset: int) -> None:
        self.fd, self.offset = fd, offset
        self.buffer = memoryview(bytearray(BUFFER))
        self.head = b""
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        data = self.buffer[:nbytes]
        if self.head is not None and not self.head.endswith(b"\r\n\r\n"):
            joined = self.head + bytes(data)
            end = joined.find(b"\r\n\r\n")
            if end < 0:
                self.head = joined
                return
            self.head = joined[: end + 4]
            if not self.head.startswith((b"HTTP/1.1 206", b"HTTP/1.1 200")):
                self.done.set_exception(RuntimeError(self.head.split(b"\r\n")[0].decode()))
                return
            data = memoryview(joined[end + 4 :])
        os.pwrite(self.fd, data, self.offset)
        self.offset += len(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def fetch(url: str, out: str, cacert: str, connections: int) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 443
    context = ssl.create_default_context(cafile=cacert)
    reader, writer = await asyncio.open_connection(host, port, ssl=context)
    writer.write(f"HEAD {parts.path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    size = int(
        next(
            line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        ).split(b":")[1]
    )
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.ftruncate(fd, size)
    loop = asyncio.get_running_loop()
    step = -(-size // connections)
    done = []
    for start in range(0, size, step):
        end = min(size, start + step) - 1
        protocol = Ranged(fd, start)
        transport, _ = await loop.create_connection(
            lambda protocol=protocol: protocol,
            host,
            port,
            ssl=context,  # type: ignore[misc]
        )
        request = (
            f"GET {parts.path} HTTP/1.1\r\nHost: {host}\r\nRange: bytes={start}-{end}\r\n"
            "Connection: close\r\n\r\n"
        )
        transport.write(request.encode())
        done.append(protocol.done)
    await asyncio.gather(*done)
    os.close(fd)


if __name__ == "__main__":
    url, out, cacert = sys.argv[1:4]
    asyncio.run(fetch(url, out, cacert, int(sys.argv[4]) if len(sys.argv) > 4 else 8))
