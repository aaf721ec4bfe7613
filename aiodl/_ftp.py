"""The FTP driver: ``REST offset`` + ``RETR`` and folder listings over pooled logins.

Control connections are our own small protocol (``_ftpcontrol``); data connections are
plain sockets opened here: EPSV first, PASV when refused, always to the address the
control connection reached (a PASV address is ignored, so a hostile server cannot aim us
at a third party), and copied into the part file by ``_sockcopy`` (splice on Linux).
Once a server has answered EPSV, the next transfer pipelines EPSV, REST and RETR in one
write.

Each open body holds one control connection (``_ftpconn``). A pooled connection the
server has meanwhile closed is replaced once, at once, without spending a retry.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ._connect import Connector, Resolve
from ._driver import Body, RangeIgnored, RemoteFile, Source
from ._exceptions import (
    ConnectionLimitError,
    FileChangedError,
    FTPError,
    TransferError,
)
from ._ftpconn import Connection, FTPBody, LoginKey, translated
from ._ftpcontrol import Control, ReplyError
from ._ftprules import (
    Login,
    Target,
    is_connection_limit,
    is_unsupported,
    parse_epsv_port,
    parse_pasv_port,
    parse_size,
    parse_target,
)
from ._listing import (
    Entry,
    parse_list,
    parse_mlsd,
    parse_mlst,
    parse_modify,
    parse_nlst,
    split_lines,
)
from ._rules import mask_url
from ._sockcopy import SocketReader, connect

T = TypeVar("T")
BLOCK = 1 << 20
# A folder listing larger than this is a hostile server, not a folder (~2 million names).
MAX_LISTING = 256 << 20


class FTPDriver:
    """Opens byte ranges and lists folders of ``ftp://`` URLs.

    Credentials come from the URL, else ``auth``, else ``netrc(host)``, else anonymous.
    """

    def __init__(
        self,
        timeout: float,
        auth: Login | None,
        netrc: Callable[[str], Login | None] = lambda host: None,
        resolve: Resolve | None = None,
    ) -> None:
        self.timeout = timeout
        self._connector = Connector(resolve)
        self._auth = auth
        self._netrc = netrc
        self._idle: dict[LoginKey, list[Connection]] = {}
        self._epsv: dict[tuple[str, int], bool] = {}  # answered EPSV (True) or refused it
        self._no_mlsd: set[tuple[str, int]] = set()
        self._no_size: set[tuple[str, int]] = set()

    async def open(
        self, source: Source, start: int, end: int | None, known: RemoteFile | None
    ) -> Body:
        target = parse_target(source.url, self._auth, self._netrc)

        async def retrieve(connection: Connection) -> Body:
            if known is None:
                info = await self._describe(connection, source.url, target.path)
            else:
                info = known
                if start:  # a later segment, or a resumed file: still the same version?
                    await self._same_version(connection, target.path, known)
            expected = None if info.size is None else (end or info.size) - start
            data = await self._retrieve(connection, target.path, start, expected)
            return FTPBody(self, connection, data, info, start)

        return await self._using(source.url, target, retrieve, keep=True)

    async def list_folder(self, source: Source) -> list[Entry]:
        """The entries of the folder ``source.url`` names: MLSD, else LIST, else NLST."""
        target = parse_target(source.url, self._auth, self._netrc)

        async def entries(connection: Connection) -> list[Entry]:
            return await self._list(connection, target.path)

        return await self._using(source.url, target, entries, keep=False)

    async def _using(
        self,
        url: str,
        target: Target,
        action: Callable[[Connection], Awaitable[T]],
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
        connection: Connection,
        action: Callable[[Connection], Awaitable[T]],
        *,
        keep: bool,
    ) -> T:
        try:
            async with translated(url):
                result = await action(connection)
        except BaseException:
            self.discard(connection)
            raise
        if not keep:
            self.release(connection)
        return result

    def _pooled(self, login: LoginKey) -> Connection | None:
        """An idle connection for ``login`` that the server has not closed meanwhile."""
        idle = self._idle.get(login, [])
        while idle:
            connection = idle.pop()
            if connection.control.alive:
                return connection
        return None

    async def _connect(self, url: str, target: Target) -> Connection:
        """A new logged-in connection in binary mode; "too many connections" is a
        ConnectionLimitError, which the engine answers by lowering the host's limit."""
        async with translated(url):
            try:
                control = await Control.open(
                    self._connector, target.host, target.port, self.timeout
                )
            except ReplyError as error:
                raise self._refusal(url, error) from None
            try:
                try:
                    await control.login(target.user, target.password)
                except ReplyError as error:
                    raise self._refusal(url, error) from None
                await control.command("TYPE I", "200")
            except BaseException:
                control.close()
                raise
        return Connection(control, target.login)

    @staticmethod
    def _refusal(url: str, error: ReplyError) -> Exception:
        if is_connection_limit(error.reply.code, error.reply.text):
            return ConnectionLimitError(
                f"FTP server refused another connection: {error}", url=mask_url(url)
            )
        return error

    def release(self, connection: Connection) -> None:
        self._idle.setdefault(connection.login, []).append(connection)

    def discard(self, connection: Connection) -> None:
        connection.control.close()

    async def _describe(self, connection: Connection, url: str, path: str) -> RemoteFile:
        """Size and modification time; no size means one stream to the end of the data."""
        size, modified = await self._stat(connection, path)
        return RemoteFile(url=url, size=size, ranged=size is not None, modified=modified)

    async def _same_version(self, connection: Connection, path: str, known: RemoteFile) -> None:
        """Refuse to add bytes of another version: the size and time must not have changed."""
        size, modified = await self._stat(connection, path)
        for label, old, new in (("size", known.size, size), ("time", known.modified, modified)):
            if old is not None and new is not None and old != new:
                raise FileChangedError(f"file changed on the server ({label} {old} -> {new})")

    async def _stat(self, connection: Connection, path: str) -> tuple[int | None, float | None]:
        """SIZE and MDTM in one round trip, else (SIZE not implemented there) MLST."""
        control, server = connection.control, connection.server
        if server not in self._no_size:
            control.send(f"SIZE {path}", f"MDTM {path}")
            size_reply, time_reply = await control.reply(), await control.reply()
            if not is_unsupported(size_reply.code):
                size = parse_size(size_reply.text) if size_reply.is_a("213") else None
                modified = parse_modify(time_reply.text) if time_reply.is_a("213") else None
                return size, modified
            self._no_size.add(server)
        reply = await control.command(f"MLST {path}", "")
        entry = parse_mlst(reply.text) if reply.is_a("250") else None
        return (entry.size, entry.modified) if entry is not None else (None, None)

    async def _retrieve(
        self, connection: Connection, path: str, start: int, expected: int | None
    ) -> SocketReader:
        """REST (when ``start``) and RETR on a new data connection that will bring about
        ``expected`` bytes. A server that refuses REST makes the file one stream
        (RangeIgnored)."""
        control = connection.control
        retrieve = f"RETR {path}"
        data = await self._passive(connection, [f"REST {start}"] if start else [retrieve], expected)
        try:
            if start:  # RETR only once REST is taken: a refused REST must not start a stream
                reply = await control.reply()
                if not reply.is_a("350"):
                    raise RangeIgnored(f"REST refused: {reply.code} {reply.text}")
                control.send(retrieve)
            Control.check(await control.reply(), "1")
        except BaseException:
            data.close()
            raise
        return data

    async def _passive(
        self, connection: Connection, then: list[str], expected: int | None = None
    ) -> SocketReader:
        """A data connection to the control connection's address, with ``then`` (commands
        that use it) sent right behind EPSV when this server is known to answer it."""
        control, server = connection.control, connection.server
        known = self._epsv.get(server)
        port, sent = None, False
        if known is not False:
            control.send("EPSV", *(then if known else ()))
            reply = await control.reply()
            if reply.is_a("229"):
                port = parse_epsv_port(reply.text)
                self._epsv[server] = True
            elif known or not is_unsupported(reply.code):
                raise ReplyError(reply)
            else:
                self._epsv[server] = False
            sent = bool(known)
        if port is None:
            reply = await control.command("PASV", "227")
            port, sent = parse_pasv_port(reply.text), False
        if port is None:
            raise TransferError(f"unreadable passive-mode reply {reply.text!r}")
        async with asyncio.timeout(self.timeout):
            data = SocketReader(await connect(control.address, port), self.timeout, expected)
        if not sent:
            try:
                control.send(*then)
            except ValueError:  # a name that cannot be sent: the socket must not leak
                data.close()
                raise
        return data

    async def _list(self, connection: Connection, path: str) -> list[Entry]:
        server = connection.server
        if server not in self._no_mlsd:
            try:
                return parse_mlsd(await self._listing(connection, "MLSD", path))
            except ReplyError as error:
                if not is_unsupported(error.reply.code):
                    raise
                self._no_mlsd.add(server)
        entries = parse_list(await self._listing(connection, "LIST", path))
        if entries is not None:
            return entries
        names = parse_nlst(await self._listing(connection, "NLST", path))
        return [await self._nlst_entry(connection, path, name) for name in names]

    async def _nlst_entry(self, connection: Connection, folder: str, name: str) -> Entry:
        """NLST gives names only: one that answers SIZE is a file, the rest are folders."""
        size, modified = await self._stat(connection, f"{folder}/{name}" if folder else name)
        return Entry(name, "dir") if size is None else Entry(name, "file", size, modified)

    async def _listing(self, connection: Connection, verb: str, path: str) -> list[str]:
        """The lines a listing command sends over a data connection."""
        control = connection.control
        data = await self._passive(connection, [f"{verb} {path}".rstrip()])
        try:
            Control.check(await control.reply(), "1")
            chunks: list[bytes] = []
            total = 0
            while chunk := await data.read(BLOCK):
                chunks.append(chunk)
                total += len(chunk)
                if total > MAX_LISTING:
                    raise FTPError(f"folder listing larger than {MAX_LISTING >> 20} MiB")
        finally:
            data.close()
        Control.check(await control.reply(), "2")
        return split_lines(b"".join(chunks))

    async def aclose(self) -> None:
        """Log out of every pooled connection (politely, but without waiting long)."""
        connections = [c for idle in self._idle.values() for c in idle]
        self._idle.clear()
        for connection in connections:
            with contextlib.suppress(OSError, TimeoutError, ReplyError):
                async with asyncio.timeout(1):
                    await connection.control.quit()
