"""One logged-in FTP connection, the body of one RETR on it, and FTP errors in the aiodl
tree.

A body read to its end is finished with the server's 226 and its connection goes back to
the pool; a body abandoned at a segment end drops its data and control connections,
which leaves the pool healthy without relying on how a server handles ABOR.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from ._connect import failure
from ._driver import RangeIgnored, RemoteFile, Sink
from ._exceptions import DownloadError, FTPError, IntegrityError, TransferError
from ._ftpcontrol import Control, ReplyError
from ._ftprules import PERMANENT
from ._rules import mask_url
from ._sockcopy import SocketReader

# host, port, user, password: a pooled login is reused only with the same credentials.
LoginKey = tuple[str, int, str, str]


class Pool(Protocol):
    """Where a body hands its connection back: pooled when healthy, else dropped."""

    def release(self, connection: Connection) -> None: ...

    def discard(self, connection: Connection) -> None: ...


@asynccontextmanager
async def translated(url: str) -> AsyncIterator[None]:
    """Replies, socket errors and unsendable names into the aiodl tree."""
    try:
        yield
    except ReplyError as error:
        message = f"FTP server answered {error}"
        if error.reply.code in PERMANENT:
            raise FTPError(message, url=mask_url(url)) from None
        raise TransferError(message, url=mask_url(url)) from None
    except OSError as error:
        raise failure(error, url) from None
    except ValueError as error:  # a name holding CR/LF cannot be sent as a command
        raise FTPError(str(error), url=mask_url(url)) from None


class Connection:
    """A logged-in control connection and the login it belongs to."""

    def __init__(self, control: Control, login: LoginKey) -> None:
        self.control = control
        self.login = login

    @property
    def server(self) -> tuple[str, int]:
        return self.login[0], self.login[1]


class FTPBody:
    """One RETR data connection, copied straight into the part file."""

    def __init__(
        self,
        pool: Pool,
        connection: Connection,
        data: SocketReader,
        info: RemoteFile,
        start: int,
    ) -> None:
        self._pool, self._connection, self._data = pool, connection, data
        self.info = info
        self._start = self._pos = start
        self._ended = False
        self._closed = False

    async def copy_to(self, sink: Sink, offset: int, limit: int) -> int:
        if self._ended:
            return 0
        async with translated(self.info.url):
            moved = await self._data.copy_to(sink, offset, limit)
            self._pos += moved
            size = self.info.size
            if not moved or (size is not None and self._pos >= size):
                # The file's last byte must also be the data connection's last byte.
                if size is not None and (self._pos > size or not await self._data.at_end()):
                    self._too_long()
                self._ended = True
        return moved

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
        self._data.close()
        if self._ended:
            try:
                async with translated(self.info.url):
                    Control.check(await self._connection.control.reply(), "2")
            except DownloadError:
                self._pool.discard(self._connection)
            else:
                self._pool.release(self._connection)
            return
        self._pool.discard(self._connection)
