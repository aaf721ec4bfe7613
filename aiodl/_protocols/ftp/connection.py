"""One logged-in FTP connection, the body of one RETR on it, and FTP errors in the aiodl
tree.

A body read to its end is finished with the server's 226 (anything else fails the
transfer) and its connection goes back to the pool; a body abandoned at a segment end
closes its data connection and pools its control connection once the RETR's final reply
is read, so a segmented file logs in once per connection, not once per segment (a login
may take seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import AbstractContextManager
from typing import Protocol

from ..._credentials import mask_url
from ..._exceptions import (
    DownloadError,
    ErrorTable,
    FTPError,
    IntegrityError,
    TransferError,
    map_exceptions,
)
from ..._network.connect import failure
from ..._network.sockcopy import Sink, SocketReader
from ..driver import RangeIgnored, RemoteFile
from .control import Control, ReplyError
from .wire import PERMANENT

# host, port, user, password: a pooled login is reused only with the same credentials.
LoginKey = tuple[str, int, str, str]


class Pool(Protocol):
    """Where a body hands its connection back: pooled when it can serve the next command
    (open, every reply read), else closed."""

    def release(self, connection: Connection) -> None: ...


def _refused(error: ReplyError, url: str) -> DownloadError:
    """An unexpected reply: permanent (a wrong login, no such file) or worth a retry."""
    kind = FTPError if error.reply.code in PERMANENT else TransferError
    return kind(f"FTP server answered {error}", url=mask_url(url))


def _unsendable(error: ValueError, url: str) -> DownloadError:
    """A name holding CR or LF cannot be sent as a command."""
    return FTPError(str(error), url=mask_url(url))


_ERRORS: ErrorTable = {
    ReplyError: _refused,
    OSError: failure,
    ValueError: _unsendable,
}


def translated(url: str) -> AbstractContextManager[None]:
    """Replies, socket errors and unsendable names into the aiodl tree."""
    return map_exceptions(_ERRORS, url)


class Connection:
    """A logged-in control connection and the login it belongs to."""

    def __init__(self, control: Control, login: LoginKey) -> None:
        self.control = control
        self.login = login
        self.home: str | None = None  # the login folder (PWD) once asked; "" if unknown

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
        self._broken = False  # a read failed or was cancelled: the connection is suspect
        self._closed = False

    async def copy_to(self, sink: Sink, offset: int, limit: int) -> int:
        if self._ended:
            return 0
        try:
            with translated(self.info.url):
                moved = await self._data.copy_to(sink, offset, limit)
                self._pos += moved
                size = self.info.size
                if not moved or (size is not None and self._pos >= size):
                    # The file's last byte must also be the data connection's last byte.
                    if size is not None and (self._pos > size or not await self._data.at_end()):
                        self._too_long()
                    await self._confirmed()
        except BaseException:
            self._broken = True
            raise
        return moved

    async def _confirmed(self) -> None:
        """The data ended: only the server's 2xx reply says it was the whole file (a 426
        or 451, no reply, or a hang-up is a failed transfer, whatever size was known)."""
        self._data.close()
        Control.check(await self._connection.control.reply(), "2")
        self._ended = True

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
        """Hand the connection back. A transfer left unfinished (a segment's end came
        first) is ended by closing its data connection, which makes the server end the
        RETR (426, or 226 if it had sent everything); once that reply is read the login
        serves the next segment. One whose read failed, or that is cancelled, is dropped.

        No ABOR: servers answer it with one reply or two depending on how far the transfer
        got (pyftpdlib sends no 426 before the first byte), so the replies could not be
        told apart.

        Idempotent: the engine closes the probe body again after the transfer did.
        """
        if self._closed:
            return
        self._closed = True
        self._data.close()
        control = self._connection.control
        try:
            if not (control.settled or self._broken or _cancelling()):
                with contextlib.suppress(TimeoutError, OSError):
                    await control.settle()
        finally:
            self._pool.release(self._connection)  # unless every reply was read, it is closed


def _cancelling() -> bool:
    """Whether this task is being cancelled: then nothing more is waited for."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
