"""The FTP driver: ``REST offset`` + ``RETR`` over a small pool of logged-in connections.

Each open body holds one control connection. A body read to its end is finished cleanly
(the server's 226) and its connection goes back to the pool; a body abandoned at a segment
end drops both its data and control connections, which leaves the pool healthy without
relying on how a server handles ABOR. aioftp already ignores the address in a PASV reply
and connects data connections to the control connection's host.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import unquote, urlsplit

import aioftp

from ._driver import Body, RangeIgnored, RemoteFile, Source
from ._exceptions import DownloadTimeout, FTPError, TransferError
from ._rules import mask_url

BLOCK = 1 << 20
# aioftp's default 64 KiB stream buffer throttles a fast data connection.
_STREAM_LIMIT = 4 << 20
# Answers that will not change on a retry: bad login, no such file, not permitted.
_PERMANENT = frozenset({"530", "532", "550", "553", "501", "502", "504"})

# host, port, user, password: a pooled login is reused only with the same credentials.
_Key = tuple[str, int, str, str]


@asynccontextmanager
async def _translated(url: str) -> AsyncIterator[None]:
    """aioftp and socket errors into the aiodl tree (permanent answers are FTPError)."""
    masked = mask_url(url)
    try:
        yield
    except aioftp.StatusCodeError as error:
        codes = {str(code) for code in error.received_codes}
        message = f"FTP server answered {', '.join(sorted(codes))}: {' '.join(error.info)}"
        if codes & _PERMANENT:
            raise FTPError(message, url=masked) from None
        raise TransferError(message, url=masked) from None
    except TimeoutError as error:
        raise DownloadTimeout(f"timed out: {masked}", url=masked) from error
    except OSError as error:
        raise TransferError(f"{type(error).__name__}: {error}", url=masked) from None


class FTPBody:
    """One RETR data stream; ``read`` returns b"" at its end."""

    def __init__(
        self,
        driver: FTPDriver,
        key: _Key,
        client: aioftp.Client,
        stream: aioftp.DataConnectionThrottleStreamIO,
        info: RemoteFile,
        start: int,
    ) -> None:
        self._driver, self._key, self._client, self._stream = driver, key, client, stream
        self.info = info
        self._pos = start
        self._ended = False
        self._closed = False

    async def read(self) -> bytes:
        async with _translated(self.info.url):
            chunk: bytes = await self._stream.read(BLOCK)
        self._pos += len(chunk)
        # The last byte of a known size ends the body too: the reader stops there and
        # never asks for the empty read that would show the end.
        self._ended = not chunk or (self.info.size is not None and self._pos >= self.info.size)
        return chunk

    async def aclose(self) -> None:
        """Finish a fully read transfer and pool its connection; otherwise drop both.

        Idempotent: the engine closes the probe body again after the transfer did.
        """
        if self._closed:
            return
        self._closed = True
        if self._ended:
            try:
                async with _translated(self.info.url):
                    await self._stream.read(1)  # the server's end of data, then its 226
                    await self._stream.finish()
            except (TransferError, FTPError, DownloadTimeout):
                self._client.close()
                return
            self._driver.release(self._key, self._client)
            return
        self._stream.close()
        self._client.close()


class FTPDriver:
    """Opens byte ranges of ``ftp://`` URLs; credentials from the URL or ``auth``."""

    def __init__(self, timeout: float, auth: tuple[str, str] | None) -> None:
        self._timeout = timeout
        self._auth = auth
        self._idle: dict[_Key, list[aioftp.Client]] = {}

    async def open(
        self, source: Source, start: int, end: int | None, known: RemoteFile | None
    ) -> Body:
        parts = urlsplit(source.url)
        host, port = parts.hostname or "", parts.port or aioftp.DEFAULT_PORT
        user, password = self._credentials(parts.username, parts.password)
        path = unquote(parts.path)
        key = (host, port, user, password)
        client = await self._acquire(source.url, key)
        try:
            async with _translated(source.url):
                info = known or await self._describe(client, source.url, path)
                stream = await self._retrieve(client, path, start)
        except BaseException:
            client.close()
            raise
        return FTPBody(self, key, client, stream, info, start)

    def _credentials(self, user: str | None, password: str | None) -> tuple[str, str]:
        if user:
            return unquote(user), unquote(password or "")
        return self._auth or ("anonymous", "anonymous@")

    async def _acquire(self, url: str, key: _Key) -> aioftp.Client:
        idle = self._idle.get(key)
        if idle:
            return idle.pop()
        client = aioftp.Client(
            socket_timeout=self._timeout, connection_timeout=self._timeout, limit=_STREAM_LIMIT
        )
        try:
            async with _translated(url):
                await client.connect(key[0], key[1])
                await client.login(key[2], key[3])
        except BaseException:
            client.close()
            raise
        return client

    def release(self, key: _Key, client: aioftp.Client) -> None:
        self._idle.setdefault(key, []).append(client)

    async def _describe(self, client: aioftp.Client, url: str, path: str) -> RemoteFile:
        """Size from SIZE (binary mode, so it counts bytes); no size means one stream."""
        await client.command("TYPE I", "200")
        try:
            _, reply = await client.command("SIZE " + path, "213")
            size: int | None = int(reply[-1].split()[-1])
        except (aioftp.StatusCodeError, ValueError, IndexError):
            size = None
        return RemoteFile(url=url, size=size, ranged=size is not None)

    async def _retrieve(
        self, client: aioftp.Client, path: str, start: int
    ) -> aioftp.DataConnectionThrottleStreamIO:
        """RETR from ``start``; a server that refuses REST switches the file to one stream.

        Spelled out instead of ``client.download_stream`` because that leaves the data
        connection open when REST or RETR is refused.
        """
        reader, writer = await client.get_passive_connection("I")
        try:
            if start:
                try:
                    await client.command(f"REST {start}", "350")
                except aioftp.StatusCodeError as error:
                    raise RangeIgnored(f"REST refused: {' '.join(error.info)}") from None
            await client.command("RETR " + path, "1xx")
        except BaseException:
            writer.close()
            raise
        return aioftp.DataConnectionThrottleStreamIO(
            client, reader, writer, throttles={"_": client.throttle}, timeout=self._timeout
        )

    async def close(self) -> None:
        """Log out of every pooled connection (politely, but without waiting long)."""
        clients = [client for idle in self._idle.values() for client in idle]
        self._idle.clear()
        for client in clients:
            try:
                await asyncio.wait_for(client.quit(), timeout=1)
            except (OSError, TimeoutError, aioftp.StatusCodeError):
                client.close()
