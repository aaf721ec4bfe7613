"""A bare HTTP/1.1 server on 127.0.0.1 that sends exactly the bytes a test scripts.

aiohttp will not send a Content-Length that lies, two Content-Length fields, or a body
delimited by closing the connection; this server will. Each path has a *responder* that
writes the whole response itself and says whether the connection may carry another
request. Every request is recorded, as in ``FaultServer``.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass


@dataclass(frozen=True)
class RawRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    at: float
    peer: tuple[str, int]  # one per connection

    @property
    def range_start(self) -> int | None:
        value = self.headers.get("range")
        if value is None:
            return None
        return int(value.removeprefix("bytes=").split("-")[0])


Responder = Callable[[RawRequest, asyncio.StreamWriter], Awaitable[bool]]
"""Writes one response; True keeps the connection open for the next request."""


def head(status: str, *fields: str) -> bytes:
    """A response head: ``head("200 OK", "Content-Length: 3")``."""
    return ("\r\n".join([f"HTTP/1.1 {status}", *fields]) + "\r\n\r\n").encode("latin-1")


def reset(transport: asyncio.Transport) -> None:
    """Abort the connection with a TCP RST (SO_LINGER 0), not an orderly FIN."""
    sock = transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class RawServer:
    """Serves ``/NAME`` with ``responders[NAME]``; other paths get a 404."""

    def __init__(self) -> None:
        self.responders: dict[str, Responder] = {}
        self.seen: list[RawRequest] = []
        self.port = 0
        self._closing = asyncio.Event()
        self._connections: set[asyncio.Task[None]] = set()

    def add(self, name: str, responder: Responder) -> str:
        self.responders[name] = responder
        return self.url(name)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def requests_for(self, name: str) -> list[RawRequest]:
        return [seen for seen in self.seen if seen.path == f"/{name}"]

    async def hang(self) -> None:
        """Send nothing more until the server shuts down (a stalled server)."""
        await self._closing.wait()

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        try:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                request_line, *fields = raw.decode("latin-1").split("\r\n")[:-2]
                method, path, _ = request_line.split(" ")
                headers = {}
                for field in fields:
                    name, _, value = field.partition(":")
                    headers[name.strip().lower()] = value.strip()
                request = RawRequest(method, path, headers, time.monotonic(), peer)
                self.seen.append(request)
                responder = self.responders.get(path.lstrip("/"), _not_found)
                keep = await responder(request, writer)
                await writer.drain()
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away
        except asyncio.CancelledError:
            pass  # the server is closing (ending normally keeps asyncio's callback quiet)
        finally:
            self._connections.discard(task)
            writer.close()
            with suppress(ConnectionError):
                await writer.wait_closed()

    async def close(self) -> None:
        self._closing.set()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)


async def _not_found(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
    writer.write(head("404 Not Found", "Content-Length: 0"))
    return True


@asynccontextmanager
async def running_raw(host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[RawServer]:
    """Run a ``RawServer`` on ``host`` at ``port`` (by default a free port of 127.0.0.1)."""
    server = RawServer()
    listener = await asyncio.start_server(server.connection, host, port)
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()
        await server.close()
        await listener.wait_closed()
