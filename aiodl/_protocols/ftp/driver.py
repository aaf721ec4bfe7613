"""The FTP driver: ``REST offset`` + ``RETR`` and folder listings over pooled logins.

Control connections are our own small protocol (``control``); data connections are
plain sockets opened here: EPSV first, PASV when refused, always to the address the
control connection reached (a PASV address is ignored, so a hostile server cannot aim us
at a third party), and copied into the part file by ``aiodl._network.sockcopy`` (splice on Linux).
Once a server has answered EPSV, the next transfer pipelines EPSV, REST and RETR in one
write; once it has refused REST, it is asked no more in the run (its files are streams).

Each open body holds one control connection (``connection``); a connection goes back to
the pool whenever every command's final reply has been read, after a refusal too, so
logins (which may take seconds) are not repeated. A pooled connection the server has
meanwhile closed is replaced once, at once, without spending a retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ..._credentials import Login, mask_url
from ..._exceptions import (
    ConnectionLimitError,
    FileChangedError,
    FTPError,
    TransferError,
)
from ..._network.connect import Connector
from ..._network.sockcopy import SocketReader, connect
from ..._urls import Resolve
from ..driver import Body, Endpoint, RangeIgnored, RemoteFile
from ..entries import Listing
from .connection import Connection, FTPBody, LoginKey, translated
from .control import Control, ReplyError
from .folders import RemoteFolders
from .listing import parse_mlst, parse_modify
from .wire import (
    Target,
    is_connection_limit,
    is_unsupported,
    parse_epsv_port,
    parse_pasv_port,
    parse_size,
    parse_target,
)

T = TypeVar("T")


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
        self._folders = RemoteFolders(self._passive, self._stat)
        self._no_size: set[tuple[str, int]] = set()
        self._rest: dict[tuple[str, int], bool] = {}  # answered REST with 350, or refused it
        self._rest_asked: dict[tuple[str, int], asyncio.Lock] = {}

    async def open(
        self, endpoint: Endpoint, start: int, end: int | None, known: RemoteFile | None
    ) -> Body:
        target = parse_target(endpoint.url, self._auth, self._netrc)

        async def retrieve(connection: Connection) -> Body:
            if known is None:
                info = await self._describe(connection, endpoint.url, target.path)
            else:
                info = self._ranged_here(connection, known)
                if start:  # a later segment, or a resumed file: still the same version?
                    await self._same_version(connection, target.path, known)
            expected = None if info.size is None else (end or info.size) - start
            try:
                data = await self._retrieve(connection, target.path, start, expected)
            except ReplyError as error:
                raise await self._refused_file(
                    connection, endpoint.url, target.path, error
                ) from None
            return FTPBody(self, connection, data, info, start)

        return await self._using(endpoint.url, target, retrieve, keep=True)

    async def _refused_file(
        self, connection: Connection, url: str, path: str, error: ReplyError
    ) -> Exception:
        """What a refused RETR means: a URL naming a folder gets a hint (a 550 there says
        "not a plain file"), anything else is the server's reply."""
        if error.reply.code == "550" and await self._folders.is_folder(connection, path):
            masked = mask_url(url)
            return FTPError(f"{masked} is a folder: add a '/' at its end to mirror it", url=masked)
        return error

    async def list_folder(self, endpoint: Endpoint) -> Listing:
        """The entries of the folder ``endpoint.url`` names, once it is known to be one."""
        target = parse_target(endpoint.url, self._auth, self._netrc)

        async def entries(connection: Connection) -> Listing:
            await self._folders.check(connection, endpoint.url, target.path)
            return await self._folders.entries(connection, target.path)

        return await self._using(endpoint.url, target, entries, keep=False)

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
            with translated(url):
                result = await action(connection)
        except BaseException:
            self.release(connection)  # a refusal (550, REST 502) leaves it usable
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
        with translated(url):
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
        """Pool a connection that can serve the next command: open, and every command's
        final reply read (else a later command would read an earlier one's reply)."""
        control = connection.control
        if control.alive and control.settled:
            self._idle.setdefault(connection.login, []).append(connection)
        else:
            control.close()

    async def _describe(self, connection: Connection, url: str, path: str) -> RemoteFile:
        """Size and modification time; no size means one stream to the end of the data."""
        size, modified = await self._stat(connection, path)
        info = RemoteFile(url=url, size=size, ranged=size is not None, modified=modified)
        return self._ranged_here(connection, info)

    def _ranged_here(self, connection: Connection, info: RemoteFile) -> RemoteFile:
        """``info``, not ranged on a server that refused REST: one stream from the start."""
        if info.ranged and self._rest.get(connection.server) is False:
            return dataclasses.replace(info, ranged=False)
        return info

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
        """RETR (after ``REST start`` when ``start``) on a new data connection that will
        bring about ``expected`` bytes. The first REST to a server goes alone, the other
        segments wait for its verdict: a server that refuses it is asked no more."""
        server = connection.server
        if start and server not in self._rest:
            async with self._rest_asked.setdefault(server, asyncio.Lock()):
                if server not in self._rest:
                    return await self._retr(connection, path, start, expected)
        if start and not self._rest[server]:
            raise RangeIgnored("the server refused REST earlier in this run")
        return await self._retr(connection, path, start, expected)

    async def _retr(
        self, connection: Connection, path: str, start: int, expected: int | None
    ) -> SocketReader:
        """A server that refuses REST makes the file one stream (RangeIgnored), and a
        refusal for good (5xx) is remembered."""
        control = connection.control
        retrieve = f"RETR {path}"
        data = await self._passive(connection, [f"REST {start}"] if start else [retrieve], expected)
        try:
            if start:  # RETR only once REST is taken: a refused REST must not start a stream
                reply = await control.reply()
                if not reply.is_a("350"):
                    if reply.is_a("5"):
                        self._rest[connection.server] = False
                    raise RangeIgnored(f"REST refused: {reply.code} {reply.text}")
                self._rest[connection.server] = True
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

    async def aclose(self) -> None:
        """Log out of every pooled connection (politely, but without waiting long)."""
        connections = [c for idle in self._idle.values() for c in idle]
        self._idle.clear()
        for connection in connections:
            with contextlib.suppress(OSError, TimeoutError, ReplyError):
                async with asyncio.timeout(1):
                    await connection.control.quit()
