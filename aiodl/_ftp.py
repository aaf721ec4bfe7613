"""The FTP driver: ``REST offset`` + ``RETR`` and folder listings over pooled logins.

aioftp speaks the control connection (greeting, login, replies); this module opens the
data connections itself: EPSV first, PASV when refused, always to the control
connection's host (a PASV address is ignored, so a hostile server cannot aim us at a
third party), read with a large buffer.

Each open body holds one control connection. A body read to its end is finished with the
server's 226 and its connection goes back to the pool; a body abandoned at a segment end
drops its data and control connections, which leaves the pool healthy without relying on
how a server handles ABOR. A pooled connection the server has meanwhile closed is
replaced once, at once, without spending a retry.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import aioftp

from ._driver import Body, RangeIgnored, RemoteFile, Source
from ._exceptions import (
    ConnectionLimitError,
    DownloadError,
    DownloadTimeout,
    FTPError,
    IntegrityError,
    TransferError,
)
from ._ftprules import (
    PERMANENT,
    Target,
    is_connection_limit,
    is_unsupported,
    parse_epsv_port,
    parse_pasv_port,
    parse_size,
    parse_target,
)
from ._listing import Entry, parse_list, parse_mlsd, parse_nlst, split_lines
from ._rules import mask_url

T = TypeVar("T")
BLOCK = 1 << 20
# The data connection's read buffer: asyncio's 64 KiB default throttles a fast link.
_STREAM_LIMIT = 4 << 20
# A folder listing larger than this is a hostile server, not a folder (~2 million names).
MAX_LISTING = 256 << 20
_Login = tuple[str, int, str, str]


def _codes(error: aioftp.StatusCodeError) -> tuple[str, str]:
    """The last code the server sent, and its text."""
    return str(error.received_codes[-1]), " ".join(line.strip() for line in error.info)


@asynccontextmanager
async def _translated(url: str) -> AsyncIterator[None]:
    """aioftp, socket and encoding errors into the aiodl tree."""
    masked = mask_url(url)
    try:
        yield
    except aioftp.StatusCodeError as error:
        code, text = _codes(error)
        message = f"FTP server answered {code}: {text}"
        if code in PERMANENT:
            raise FTPError(message, url=masked) from None
        raise TransferError(message, url=masked) from None
    except TimeoutError as error:
        raise DownloadTimeout(f"timed out: {masked}", url=masked) from error
    except OSError as error:
        raise TransferError(f"{type(error).__name__}: {error}", url=masked) from None
    except (UnicodeError, aioftp.errors.InvalidCommand) as error:
        # A name that is not UTF-8, or holds CR/LF, cannot be sent as a command.
        raise FTPError(f"cannot send this path to the server: {error}", url=masked) from None


class _Connection:
    """A logged-in control connection, the login it belongs to, and the address it
    reached (data connections go there, not to whatever a DNS lookup says next)."""

    def __init__(self, client: aioftp.Client, login: _Login) -> None:
        self.client = client
        self.login = login
        self.address: str = client.stream.writer.get_extra_info("peername")[0]

    @property
    def server(self) -> tuple[str, int]:
        return self.login[0], self.login[1]


class FTPBody:
    """One RETR data stream; ``read`` returns b"" at its end."""

    def __init__(
        self,
        driver: FTPDriver,
        connection: _Connection,
        data: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        info: RemoteFile,
        start: int,
    ) -> None:
        self._driver, self._connection = driver, connection
        self._reader, self._writer = data
        self.info = info
        self._start = self._pos = start
        self._ended = False
        self._closed = False

    async def read(self) -> bytes:
        if self._ended:
            return b""
        async with _translated(self.info.url), asyncio.timeout(self._driver.timeout):
            chunk = await self._reader.read(BLOCK)
            self._pos += len(chunk)
            size = self.info.size
            if not chunk or (size is not None and self._pos >= size):
                # The file's last byte must also be the data connection's last byte.
                if size is not None and (self._pos > size or await self._reader.read(1)):
                    self._too_long()
                self._ended = True
        return chunk

    def _too_long(self) -> None:
        """More bytes than the file holds: REST was ignored, or the file grew."""
        if self._start:
            raise RangeIgnored(f"the server ignored REST {self._start}; sending from byte 0")
        raise IntegrityError(
            f"the server sent more than the {self.info.size} bytes it announced "
            "(the file changed during the download)",
            url=mask_url(self.info.url),
        )

    async def aclose(self) -> None:
        """Finish a fully read transfer and pool its connection; otherwise drop both.

        Idempotent: the engine closes the probe body again after the transfer did.
        """
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        if self._ended:
            try:
                async with _translated(self.info.url):
                    await self._connection.client.command(None, "2xx", "1xx")
            except DownloadError:
                self._driver.discard(self._connection)
            else:
                self._driver.release(self._connection)
            return
        self._driver.discard(self._connection)


class FTPDriver:
    """Opens byte ranges and lists folders of ``ftp://`` URLs.

    Credentials come from the URL, else ``auth``, else anonymous.
    """

    def __init__(self, timeout: float, auth: tuple[str, str] | None) -> None:
        self.timeout = timeout
        self._auth = auth
        self._idle: dict[_Login, list[_Connection]] = {}
        self._no_epsv: set[tuple[str, int]] = set()
        self._no_mlsd: set[tuple[str, int]] = set()

    async def open(
        self, source: Source, start: int, end: int | None, known: RemoteFile | None
    ) -> Body:
        target = parse_target(source.url, self._auth)

        async def retrieve(connection: _Connection) -> Body:
            info = known or await self._describe(connection, source.url, target.path)
            data = await self._retrieve(connection, target.path, start)
            return FTPBody(self, connection, data, info, start)

        return await self._using(source.url, target, retrieve, keep=True)

    async def list_folder(self, source: Source) -> list[Entry]:
        """The entries of the folder ``source.url`` names: MLSD, else LIST, else NLST."""
        target = parse_target(source.url, self._auth)

        async def entries(connection: _Connection) -> list[Entry]:
            return await self._list(connection, target.path)

        return await self._using(source.url, target, entries, keep=False)

    async def _using(
        self,
        url: str,
        target: Target,
        action: Callable[[_Connection], Awaitable[T]],
        *,
        keep: bool,
    ) -> T:
        """Run ``action`` on a pooled connection (one fresh retry if the pooled one died).

        With ``keep`` the result holds the connection (a body); otherwise it is pooled.
        """
        connection = self._pooled(target.login)
        if connection is not None:
            try:
                return await self._run(url, connection, action, keep=keep)
            except TransferError:
                pass  # most likely closed while idle: try once more on a new connection
        connection = await self._connect(url, target)
        return await self._run(url, connection, action, keep=keep)

    async def _run(
        self,
        url: str,
        connection: _Connection,
        action: Callable[[_Connection], Awaitable[T]],
        *,
        keep: bool,
    ) -> T:
        try:
            async with _translated(url):
                result = await action(connection)
        except BaseException:
            self.discard(connection)
            raise
        if not keep:
            self.release(connection)
        return result

    def _pooled(self, login: _Login) -> _Connection | None:
        idle = self._idle.get(login)
        return idle.pop() if idle else None

    async def _connect(self, url: str, target: Target) -> _Connection:
        """A new logged-in connection in binary mode; "too many connections" is a
        ConnectionLimitError, which the engine answers by lowering the host's limit."""
        client = aioftp.Client(socket_timeout=self.timeout, connection_timeout=self.timeout)
        try:
            async with _translated(url):
                try:
                    await client.connect(target.host, target.port)
                    await client.login(target.user, target.password)
                except aioftp.StatusCodeError as error:
                    code, text = _codes(error)
                    if is_connection_limit(code, text):
                        raise ConnectionLimitError(
                            f"FTP server refused another connection: {code} {text}",
                            url=mask_url(url),
                        ) from None
                    raise
                await client.command("TYPE I", "200")
        except BaseException:
            client.close()
            raise
        return _Connection(client, target.login)

    def release(self, connection: _Connection) -> None:
        self._idle.setdefault(connection.login, []).append(connection)

    def discard(self, connection: _Connection) -> None:
        connection.client.close()

    async def _describe(self, connection: _Connection, url: str, path: str) -> RemoteFile:
        """Size from SIZE; no size means one stream to the end of the data."""
        size = await self._size(connection, path)
        return RemoteFile(url=url, size=size, ranged=size is not None)

    async def _size(self, connection: _Connection, path: str) -> int | None:
        try:
            _, reply = await connection.client.command("SIZE " + path, "213")
        except aioftp.StatusCodeError:
            return None
        return parse_size(reply[-1])

    async def _retrieve(
        self, connection: _Connection, path: str, start: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """RETR from ``start``; a server that refuses REST switches the file to one stream."""
        client = connection.client
        reader, writer = await self._passive(connection)
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
        return reader, writer

    async def _passive(
        self, connection: _Connection
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A data connection to the control connection's host: EPSV, else PASV's port."""
        client, server = connection.client, connection.server
        port = None
        if server not in self._no_epsv:
            try:
                _, reply = await client.command("EPSV", "229")
                port = parse_epsv_port(reply[-1])
            except aioftp.StatusCodeError as error:
                if not is_unsupported(_codes(error)[0]):
                    raise
                self._no_epsv.add(server)
        if port is None:
            _, reply = await client.command("PASV", "227")
            port = parse_pasv_port(reply[-1])
        if port is None:
            raise TransferError(f"unreadable passive-mode reply {reply[-1]!r}")
        return await asyncio.wait_for(
            asyncio.open_connection(connection.address, port, limit=_STREAM_LIMIT), self.timeout
        )

    async def _list(self, connection: _Connection, path: str) -> list[Entry]:
        server = connection.server
        if server not in self._no_mlsd:
            try:
                return parse_mlsd(await self._listing(connection, "MLSD", path))
            except aioftp.StatusCodeError as error:
                if not is_unsupported(_codes(error)[0]):
                    raise
                self._no_mlsd.add(server)
        entries = parse_list(await self._listing(connection, "LIST", path))
        if entries is not None:
            return entries
        names = parse_nlst(await self._listing(connection, "NLST", path))
        return [await self._nlst_entry(connection, path, name) for name in names]

    async def _nlst_entry(self, connection: _Connection, folder: str, name: str) -> Entry:
        """NLST gives names only: one that answers SIZE is a file, the rest are folders."""
        size = await self._size(connection, f"{folder}/{name}" if folder else name)
        return Entry(name, "dir") if size is None else Entry(name, "file", size)

    async def _listing(self, connection: _Connection, verb: str, path: str) -> list[str]:
        """The lines a listing command sends over a data connection."""
        client = connection.client
        reader, writer = await self._passive(connection)
        try:
            await client.command(f"{verb} {path}".rstrip(), "1xx")
            data = await self._read_all(reader)
        finally:
            writer.close()
        await client.command(None, "2xx", "1xx")
        return split_lines(data)

    async def _read_all(self, reader: asyncio.StreamReader) -> bytes:
        """A listing's bytes; each read bounded by the timeout, the whole by MAX_LISTING."""
        chunks: list[bytes] = []
        total = 0
        while chunk := await asyncio.wait_for(reader.read(BLOCK), self.timeout):
            chunks.append(chunk)
            total += len(chunk)
            if total > MAX_LISTING:
                raise FTPError(f"folder listing larger than {MAX_LISTING >> 20} MiB")
        return b"".join(chunks)

    async def close(self) -> None:
        """Log out of every pooled connection (politely, but without waiting long)."""
        connections = [c for idle in self._idle.values() for c in idle]
        self._idle.clear()
        for connection in connections:
            try:
                await asyncio.wait_for(connection.client.quit(), timeout=1)
            except (OSError, TimeoutError, aioftp.StatusCodeError):
                connection.client.close()
