"""Moving a socket's bytes into a file at an offset, without copying them through Python.

On Linux ``os.splice`` moves them socket -> pipe -> file inside the kernel; elsewhere, and
for TLS (decrypted in user space), they are received into one reusable buffer and written
with ``os.pwrite`` (the measurements that chose this are in docs/design.md, "Writing").
The socket is a non-blocking socket (plain, or an ``ssl.SSLSocket`` from ``tls``) on the
caller's event loop; waiting for data uses ``add_reader``, bounded by ``timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
import ssl
from collections.abc import Iterator, Sequence
from typing import Protocol

from .._exceptions import LocalFileError
from . import tls

# One splice moves at most a pipe's capacity; 1 MiB is Linux's default pipe-max-size.
_PIPE_SIZE = 1 << 20
_F_SETPIPE_SZ = 1031
_SPLICE = hasattr(os, "splice")


class Sink(Protocol):
    """The file a body is copied into (the disk's PartFile)."""

    def write(self, offset: int, chunks: Sequence[bytes | memoryview]) -> None:
        """Write ``chunks`` back to back at ``offset``."""

    def fileno(self) -> int:
        """The descriptor, for bodies that move bytes in directly (splice)."""

    def written(self, offset: int, nbytes: int) -> None:
        """Note ``nbytes`` a body moved in at ``offset`` through ``fileno``."""


class Collected:
    """A sink that keeps what it is given in memory: for a body that is read, not saved
    (a folder's index page). ``take`` hands over the bytes so far and forgets them."""

    def __init__(self) -> None:
        self._pieces: list[bytes] = []

    def write(self, offset: int, chunks: Sequence[bytes | memoryview]) -> None:
        self._pieces += (bytes(chunk) for chunk in chunks)

    def fileno(self) -> int:
        raise OSError("an in-memory sink has no descriptor")

    def written(self, offset: int, nbytes: int) -> None:
        raise OSError("an in-memory sink takes bytes by write() only")

    def take(self) -> bytes:
        data = b"".join(self._pieces)
        self._pieces.clear()
        return data


class SocketReader:
    """Reads one connected non-blocking socket; ``copy_to`` returns 0 at the end of data.

    ``expected`` is how many bytes will be copied, when known: below a pipe's worth, a
    pipe's setup (four calls) costs more than the copy it saves, so the buffer is used.
    A TLS socket always uses the buffer, filled with every record that has arrived
    before one write.
    """

    def __init__(self, sock: socket.socket, timeout: float, expected: int | None = None) -> None:
        self._sock = sock
        self._timeout = timeout
        self._pipe: tuple[int, int] | None = None
        self._buffer: memoryview | None = None
        self._tls = isinstance(sock, ssl.SSLSocket)
        big = expected is None or expected >= _PIPE_SIZE
        self._splice_it = _SPLICE and big and not self._tls
        self._buffer_size = _PIPE_SIZE if expected is None else min(_PIPE_SIZE, expected + 1)

    async def copy_to(self, sink: Sink, offset: int, limit: int) -> int:
        """Move up to ``limit`` bytes (as many as have arrived) into ``sink`` at ``offset``."""
        if isinstance(sink, Collected):  # no file: the bytes go to Python anyway
            data = await self.read(limit)
            sink.write(offset, [data])
            return len(data)
        if self._splice_it:
            moved = await self._splice(sink.fileno(), offset, limit)
        else:
            moved = await self._receive_and_write(sink.fileno(), offset, limit)
        sink.written(offset, moved)
        return moved

    async def read(self, limit: int) -> bytes:
        """Up to ``limit`` bytes as they arrive; b"" at the end of data."""
        async with asyncio.timeout(self._timeout):
            return await tls.receive(self._sock, limit)

    async def at_end(self) -> bool:
        """Whether the peer has closed without sending another byte."""
        return not await self.read(1)

    def close(self) -> None:
        self.detach().close()

    def detach(self) -> socket.socket:
        """Stop reading (the pipe goes) and hand the socket back, open, for another use."""
        if self._pipe is not None:
            for fd in self._pipe:
                os.close(fd)
            self._pipe = None
        return self._sock

    async def _splice(self, fd: int, offset: int, limit: int) -> int:
        reader, writer = self._pipe or self._open_pipe()
        while True:
            try:
                got = os.splice(
                    self._sock.fileno(),
                    writer,
                    min(limit, _PIPE_SIZE),
                    flags=os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK,
                )
                break
            except BlockingIOError:
                await self._readable()
        moved = 0
        with _file_side():
            while moved < got:  # the pipe holds them all; the file takes them in one or more
                moved += os.splice(reader, fd, got - moved, offset_dst=offset + moved)
        return got

    def _open_pipe(self) -> tuple[int, int]:
        reader, writer = os.pipe2(os.O_CLOEXEC)
        with contextlib.suppress(OSError):  # a smaller pipe only means more splices
            fcntl.fcntl(writer, _F_SETPIPE_SZ, _PIPE_SIZE)
        self._pipe = (reader, writer)
        return self._pipe

    async def _receive_and_write(self, fd: int, offset: int, limit: int) -> int:
        if self._buffer is None:
            self._buffer = memoryview(bytearray(self._buffer_size))
        view = self._buffer[: min(limit, self._buffer_size)]
        got = await self._receive_into(view)
        written = 0
        with _file_side():
            while written < got:
                written += os.pwrite(fd, view[written:got], offset + written)
        return got

    async def _receive_into(self, view: memoryview) -> int:
        """Wait for the first bytes; over TLS, add every record already here (one
        ``SSL_read`` returns one record, 16 KiB at most), so one write takes them all."""
        while True:
            try:
                got = self._sock.recv_into(view)
                break
            except tls.WANT_READ:
                await self._readable()
            except ssl.SSLWantWriteError:
                async with asyncio.timeout(self._timeout):
                    await tls.writable(self._sock)
        while self._tls and 0 < got < len(view):
            try:
                more = self._sock.recv_into(view[got:])
            except OSError:  # nothing more yet, or an error the next call raises again
                break
            if not more:
                break
            got += more
        return got

    async def _readable(self) -> None:
        """Wait until the socket has data or has closed, at most ``timeout`` seconds."""
        async with asyncio.timeout(self._timeout):
            await tls.readable(self._sock)


@contextlib.contextmanager
def _file_side() -> Iterator[None]:
    """A failing write is the destination's fault (disk full, I/O error), not the
    connection's: it must not be retried as a transfer error."""
    try:
        yield
    except OSError as error:
        raise LocalFileError(f"writing the part file failed: {error.strerror or error}") from error


async def connect(address: str, port: int) -> socket.socket:
    """A non-blocking TCP connection to ``address`` (an IP, not a name: no lookup)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, (address, port))
    except BaseException:
        sock.close()
        raise
    return sock
