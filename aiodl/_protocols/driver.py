"""The one small interface every protocol driver (HTTP, FTP) implements.

Pure values and interfaces, no I/O. The run knows nothing of protocols: it asks a driver
to ``open`` a byte range of an endpoint and reads the returned ``Body`` until the range
is done. Drivers translate their library's errors into the aiodl exception tree, so the
run's retry logic is shared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .._digests import Checksum
from .._exceptions import DownloadError
from .entries import Listing

if TYPE_CHECKING:
    from .._network.sockcopy import Sink


@dataclass(frozen=True)
class RemoteFile:
    """What the first response told us about an endpoint.

    ``size`` is None when the server did not say (a close-delimited body); ``ranged`` is
    True when byte ranges may be requested; ``etag``/``last_modified`` identify the version,
    so a later range of a different version is refused; ``disposition`` is the raw
    Content-Disposition header, parsed and sanitised only when the target is named;
    ``modified`` (epoch seconds) is given to the saved file when a listing told it;
    ``digest`` is what the server's digest headers say the whole file hashes to;
    ``unframed`` marks a body that only the connection's close ends (no length, not
    chunked), where a cut cannot be told from the end.
    """

    url: str
    size: int | None
    ranged: bool
    etag: str | None = None
    last_modified: str | None = None
    disposition: str | None = None
    modified: float | None = None
    digest: Checksum | None = None
    unframed: bool = False

    @property
    def strong_etag(self) -> str | None:
        """The ETag when it names these exact bytes (a weak ``W/`` one does not)."""
        return self.etag if self.etag and not self.etag.startswith("W/") else None


@dataclass(frozen=True)
class Held:
    """The copy already at the target, for a conditional first request: the strong ETag
    recorded with it and its modification time (epoch seconds)."""

    etag: str | None
    modified: float | None


@dataclass(frozen=True)
class Endpoint:
    """Where and how to ask: the URL, the request headers (and which are credentials),
    and the driver that speaks the URL's protocol."""

    url: str
    headers: Mapping[str, str]
    credentials: frozenset[str]
    driver: Driver
    held: Held | None = None  # the probe asks "only if changed" (HTTP: If-None-Match...)


class RangeIgnored(Exception):
    """The server answered a range request with something other than that range.

    Never escapes the engine: it switches the file to one stream from byte 0.
    """


class NotModified(Exception):
    """The server says the copy ``Endpoint.held`` describes is current (HTTP 304).

    ``info`` holds what the answer says of the file's version (its ETag, Last-Modified);
    no size. Never escapes the engine: the copy is kept only if that proves it the same.
    """

    def __init__(self, info: RemoteFile) -> None:
        super().__init__(f"{info.url} is not modified")
        self.info = info


class NotAFolder(DownloadError):
    """A folder URL answered with something that is not a listing (over HTTP: a page
    that is not HTML). The URL a caller gave is then fetched as a file, as curl and wget
    without ``-r`` would; a link found in a walk fails with this message."""


class Body(Protocol):
    """A response body delivering the requested bytes of ``info``'s file, in order."""

    info: RemoteFile

    async def copy_to(self, sink: Sink, offset: int, limit: int) -> int:
        """Move the next bytes (at most ``limit``) into ``sink`` at ``offset``; return how
        many, 0 at the end of the body. Bodies write themselves, so a driver that can move
        bytes without copying them through Python (splice) does so."""

    async def aclose(self) -> None:
        """Release the connection (dropping it if the body was not read to its end)."""


class Driver(Protocol):
    async def open(
        self, endpoint: Endpoint, start: int, end: int | None, known: RemoteFile | None
    ) -> Body:
        """Request bytes ``[start, end)`` (``end`` None: to the end of the file).

        ``known`` is the file as first seen; a response for another version or size raises
        IntegrityError, and one that ignores the range raises RangeIgnored. A request with
        ``start == 0`` and no ``end`` is the probe: it may be answered by the whole file,
        or, when ``endpoint.held`` is set and the server says that copy is current, by
        NotModified (a driver that cannot ask conditionally just ignores ``held``).
        """
        ...


@runtime_checkable
class TreeDriver(Driver, Protocol):
    """A driver that can also list folders (FTP; HTTP index pages), so a folder URL's
    tree can be walked."""

    async def list_folder(self, endpoint: Endpoint) -> Listing:
        """The entries of the folder ``endpoint.url`` names (the URL ends with ``/``);
        NotAFolder when what it names is not one."""
        ...
