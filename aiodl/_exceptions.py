"""Every error aiodl reports, in one tree.

    DownloadError              a file could not be downloaded (the base; catch this one)
    ├── HTTPStatusError        the server answered with a final error status (``.status``)
    ├── TransferError          the connection broke, or the body ended before its length
    │   ├── ConnectionLimitError   the server refused another connection (FTP 421)
    │   └── ConnectError           no connection: unknown name, refused, untrusted certificate
    ├── IntegrityError         the bytes are not what they must be (size, range, checksum)
    │   ├── FileChangedError   the file changed on the server (ETag, date or size differ)
    │   └── MirrorRejected     no mirror is left that serves the same file
    ├── UnsafePathError        the target would land outside ``dest`` or on a symlink
    ├── DownloadTimeout        connecting or reading stalled past ``timeout`` on every try
    │   └── TooSlow            a connection stayed below ``min_speed``
    ├── FTPError               an FTP server refused or broke the transfer
    └── LocalFileError         the destination could not be written (disk full, no access)

Misuse of the API (an invalid option value) raises ``ValueError``/``TypeError`` instead:
those are bugs in the caller, not download failures.

Messages never contain credentials: URLs are masked before they are formatted. The
protocols turn their libraries' errors into this tree through one table-driven
``map_exceptions`` each.

May import: nothing of aiodl
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any


class DownloadError(Exception):
    """A download failed; ``url`` is the masked source URL, when known."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class HTTPStatusError(DownloadError):
    """The server's final answer was an error status, after any retries.

    ``retry_after`` holds the server's ``Retry-After`` in seconds when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        url: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, url=url)
        self.status = status
        self.retry_after = retry_after


class TransferError(DownloadError):
    """The connection failed or closed before all expected bytes arrived."""


class ConnectionLimitError(TransferError):
    """The server refused another connection ("421 too many connections").

    Not a reason to fail: the host's connection limit is lowered by one and the request
    waits for a free place, then is retried.
    """


class ConnectError(TransferError):
    """No connection could be made: the host name is unknown, the connection was refused,
    the server's certificate does not verify.

    ``retries`` caps the further tries it is worth: 0 for an unknown name or a certificate
    that does not verify (trying again gives the same answer, as curl fails at once), 1
    for a refused connection to an IP address (a server that is restarting), None where
    the retry policy's own count applies (a name, whose addresses may change; a lookup
    that failed for now).
    """

    def __init__(self, message: str, *, url: str | None = None, retries: int | None = None) -> None:
        super().__init__(message, url=url)
        self.retries = retries


class IntegrityError(DownloadError):
    """The received bytes failed a check: length, Content-Range or checksum."""


class FileChangedError(IntegrityError):
    """The file changed on the server while it was being fetched, or since a resumed
    download began: its ETag, Last-Modified, modification time or size differ.

    Bytes of two versions are never combined: the file is fetched again from byte 0,
    once; if it changes again, this is the error reported.
    """


class MirrorRejected(IntegrityError):
    """A mirror does not serve the file the first URL to answer did (its size or ETag
    differ), or serves no byte ranges: it is not used for that file, so versions never
    mix. Seen only when no other URL of the file is left.
    """


class UnsafePathError(DownloadError):
    """A file name would escape the destination directory or follow a symlink."""


class DownloadTimeout(DownloadError):
    """Connecting or reading made no progress within the configured timeout."""


class TooSlow(DownloadTimeout):
    """A connection stayed below ``min_speed`` for a whole measuring window. Retried on a
    new connection from the byte it reached, but its trickle does not count as progress
    (which would reset the retries): a server that only trickles fails in bounded time."""


class FTPError(DownloadError):
    """An FTP server refused the login or the transfer."""


class LocalFileError(DownloadError):
    """Writing the destination failed: the disk is full, access is denied, an I/O error.

    Not retried: the server is not at fault, and nothing partial reaches the final path.
    """


ErrorTable = Mapping[type[Exception], Callable[[Any, str], DownloadError]]
"""Exception type -> the DownloadError it becomes for a (masked) URL; the first entry the
error is an instance of wins, so list subclasses before their bases."""


@contextmanager
def map_exceptions(table: ErrorTable, url: str) -> Iterator[None]:
    """A library's or the system's errors into this tree, as httpcore's ``map_exceptions``
    does, with the URL each message names. DownloadErrors (a file-side LocalFileError,
    say) and errors the table does not list pass through unchanged."""
    try:
        yield
    except DownloadError:
        raise
    except Exception as error:
        for kind, make in table.items():
            if isinstance(error, kind):
                raise make(error, url) from error
        raise
