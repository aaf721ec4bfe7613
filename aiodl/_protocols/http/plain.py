"""HTTP/1.1 on our own sockets, for ``http://`` and ``https://`` alike: a keep-alive pool,
one GET at a time per connection, heads parsed by the sans-IO ``wire``, bodies moved into
the file by ``aiodl._network.sockcopy`` (spliced for ``http://``; for ``https://``
decrypted into one reusable buffer and written with one ``pwrite``).

Every connection comes from ``Connector``; for ``https://`` TLS (``aiodl._network.tls``,
the stdlib ``ssl``) is layered on the socket it returns, so a proxy's tunnel is used the
same way as a direct connection. Measured against nginx on loopback (prototype, same
machine): one 1 GiB file over eight connections 0.60-0.79 s over ``http://``, where
aiohttp's streams take 1.2 s; 2000 x 64 KiB over sixteen keep-alive connections
0.32-0.40 s.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from multidict import CIMultiDictProxy

from ..._credentials import mask_url
from ..._exceptions import ErrorTable, TransferError, map_exceptions
from ..._network.connect import Connector, failure
from ..._network.sockcopy import Sink, SocketReader
from ..._network.tls import client_context, is_quiet, receive, send_all, start_tls, untrusted
from ..._network.turns import Turns
from ..._urls import authority
from ..driver import RemoteFile
from .wire import (
    ChunkedDecoder,
    Framing,
    Head,
    HeadParser,
    ProtocolError,
    keeps_alive,
    malformed,
    request,
)
from .wire import framing as body_framing

_Server = tuple[str, str, int]  # scheme, host, port
_PORTS = {"http": 80, "https": 443}

# What stays as written in a request target: reserved characters and "%" (already
# encoded triplets); everything else (non-ASCII, spaces, controls) is percent-encoded.
_URI_SAFE = "!#$%&'()*+,/:;=?@[]~"
# A chunked body is read a MiB at a time and decoded a slice at a time: 16 KiB of
# one-byte chunks take a few milliseconds to decode (a MiB of them, a second), and the
# loop is given back between slices (see aiodl._network.turns).
_READ = 1 << 20
_SLICE = 16 << 10


_ERRORS: ErrorTable = {  # subclasses first
    ssl.SSLCertVerificationError: lambda error, url: untrusted(error, url),
    OSError: failure,  # resets, refusals, timeouts: one sentence naming host:port
    ProtocolError: lambda error, url: malformed(error, mask_url(url)),
}


def translated(url: str) -> AbstractContextManager[None]:
    """Socket errors and malformed responses into the aiodl tree, with the URL masked
    (file-side failures are LocalFileError already and pass through)."""
    return map_exceptions(_ERRORS, url)


@dataclass
class RawResponse:
    """A response whose head has arrived; its body is still on the socket."""

    pool: RawPool
    server: _Server
    sock: socket.socket
    head: Head
    rest: bytes  # body bytes that came with the head
    url: str
    framing: Framing = field(init=False)

    def __post_init__(self) -> None:
        self.framing = body_framing(self.head)  # a body that cannot be framed: refused

    @property
    def status(self) -> int:
        return self.head.status

    @property
    def reason(self) -> str:
        return self.head.reason

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        return self.head.headers

    def body(self, info: RemoteFile) -> RawBody:
        return RawBody(self, info)

    def close(self) -> None:
        """Drop the connection: its body is not wanted (or cannot be trusted)."""
        self.sock.close()


@dataclass
class RawBody:
    """The body of a ``RawResponse``, copied into the part file as it arrives."""

    response: RawResponse
    info: RemoteFile
    _left: int | None = field(init=False)  # bytes still due (None: until chunked/close ends)
    _reader: SocketReader = field(init=False)
    _decoder: ChunkedDecoder | None = field(default=None, init=False)
    _pending: memoryview = field(init=False)  # body bytes read but not yet written
    _turns: Turns = field(default_factory=Turns, init=False)
    _closed: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        kind, length = self.response.framing
        self._left = length if kind == "length" else (0 if kind == "empty" else None)
        expected = self._left if kind == "length" else None
        self._reader = SocketReader(self.response.sock, self.response.pool.timeout, expected)
        self._pending = memoryview(self.response.rest)
        if kind == "chunked":
            self._decoder = ChunkedDecoder()
            self._pending = memoryview(b"".join(self._decoder.feed(self._pending)))

    async def copy_to(self, sink: Sink, offset: int, limit: int) -> int:
        if self._left == 0:
            return 0
        with translated(self.info.url):
            if self._decoder is not None and not self._pending:
                await self._decode_more()
            if self._pending or self._decoder is not None:
                moved = self._write_pending(sink, offset, limit)
            else:
                wanted = limit if self._left is None else min(limit, self._left)
                moved = await self._reader.copy_to(sink, offset, wanted)
        if self._left is not None:
            self._left -= moved
        return moved

    async def _decode_more(self) -> None:
        """Read and decode until body bytes come or the last chunk has; a connection that
        ends first was cut (TransferError, retried like any cut), it did not end the body."""
        decoder = self._decoder
        assert decoder is not None
        while not self._pending and not decoder.done:
            data = await self._reader.read(_READ)
            if not data:
                raise TransferError(
                    "the connection closed before the last chunk of the body",
                    url=mask_url(self.info.url),
                )
            pieces, view = [], memoryview(data)
            for start in range(0, len(view), _SLICE):
                pieces += decoder.feed(view[start : start + _SLICE])
                await self._turns.give(_SLICE)
            self._pending = memoryview(b"".join(pieces))

    def _write_pending(self, sink: Sink, offset: int, limit: int) -> int:
        """Bytes that passed through Python: what came with the head, or a chunked body."""
        if self._left is not None:
            limit = min(limit, self._left)  # bytes after the body are not the body's
        piece, self._pending = self._pending[:limit], self._pending[limit:]
        if piece:
            sink.write(offset, [piece])
        return len(piece)

    async def aclose(self) -> None:
        """Pool the connection if its body was read to the end and it may be reused.

        Idempotent: the engine closes the first body again after the transfer did, and a
        connection pooled twice would carry two requests at once.
        """
        if self._closed:
            return
        self._closed = True
        reusable = (
            (self._left == 0 or (self._decoder is not None and self._decoder.clean))
            and not self._pending
            and self.response.framing[0] != "close"
            and keeps_alive(self.response.head)
        )
        if reusable:
            self.response.pool.release(self.response.server, self._reader.detach())
        else:
            self._reader.close()


class RawPool:
    """Idle keep-alive connections per server; new ones come from ``connector``, with
    TLS on top for ``https://``.

    ``verify`` True checks certificates against the system CAs, an SSLContext is used as
    given (a private CA), and False turns checking off (an explicit opt-in). Its context
    is made when the first ``https://`` connection is (loading the CAs takes time).
    """

    def __init__(
        self,
        timeout: float,
        connector: Connector | None = None,
        verify: bool | ssl.SSLContext = True,
    ) -> None:
        self.timeout = timeout
        self._idle: dict[_Server, list[socket.socket]] = {}
        self._connector = connector or Connector()
        self._verify = verify
        self._context: ssl.SSLContext | None = None

    async def get(self, url: str, headers: dict[str, str]) -> RawResponse:
        """Send a GET for ``url`` and read the response head (a pooled connection that the
        server closed meanwhile is replaced once, at once)."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        default = _PORTS[scheme]
        server = (scheme, parts.hostname or "", parts.port or default)
        host = authority(server[1], server[2], default=default)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        target = quote(target, safe=_URI_SAFE)  # a pasted IRI (/é.txt) goes out as ASCII
        payload = request(target, host, headers)
        pooled = self._pooled(server)
        if pooled is not None:
            try:
                return await self._exchange(pooled, server, payload, url)
            except ConnectionError:
                pass  # closed while idle: once more on a new connection
        return await self._exchange(await self._connect(server), server, payload, url)

    async def _exchange(
        self, sock: socket.socket, server: _Server, payload: bytes, url: str
    ) -> RawResponse:
        parser = HeadParser()
        try:
            async with asyncio.timeout(self.timeout):
                await send_all(sock, payload)
            # One deadline for the whole head, not per read: a server that drips a header
            # line at a time (slowloris) must not hold the request for ever.
            async with asyncio.timeout(self.timeout):
                while True:
                    data = await receive(sock, 1 << 16)
                    if not data:
                        raise ConnectionResetError("the server closed the connection")
                    parsed = parser.feed(data)
                    if parsed is not None:
                        return RawResponse(self, server, sock, parsed[0], parsed[1], url)
        except BaseException:
            sock.close()
            raise

    def _pooled(self, server: _Server) -> socket.socket | None:
        """An idle connection with nothing waiting on it. Bytes that came unasked (a body
        longer than its Content-Length, a smuggled second response) or an end of stream
        mean the connection is not where a new request may start: it is closed."""
        idle = self._idle.get(server)
        while idle:
            sock = idle.pop()
            if is_quiet(sock):
                return sock
            sock.close()
        return None

    async def _connect(self, server: _Server) -> socket.socket:
        """A new connection; for ``https://`` with its handshake done, in one deadline."""
        scheme, host, port = server
        async with asyncio.timeout(self.timeout):
            sock = await self._connector.connect(host, port)
            if scheme == "http":
                return sock
            if self._context is None:
                self._context = client_context(self._verify)
            return await start_tls(sock, self._context, host)

    def release(self, server: _Server, sock: socket.socket) -> None:
        self._idle.setdefault(server, []).append(sock)

    def close(self) -> None:
        for idle in self._idle.values():
            for sock in idle:
                sock.close()
        self._idle.clear()
