"""The HTTP(S) driver: ranged GETs over one aiohttp session.

There is no HEAD probe. The first request of a file is ``GET`` with ``Range: bytes=0-``:
a 206 reveals the size, range support and validators and already streams the first
segment; a 200 means ranges are ignored and that same body is the whole file. This saves
a round trip per file and cannot be misled by a HEAD that lies or is refused.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import aiohttp
from multidict import CIMultiDictProxy

from ._checksum import server_digest
from ._driver import Body, RangeIgnored, RemoteFile, Sink, Source
from ._exceptions import (
    DownloadError,
    DownloadTimeout,
    FileChangedError,
    HTTPStatusError,
    IntegrityError,
    TransferError,
)
from ._retry import parse_retry_after
from ._rules import (
    mask_url,
    parse_content_range,
    range_header,
    range_matches,
    redirect_headers,
    redirect_url,
)

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_READ_ERRORS = (aiohttp.ClientError, OSError)


@asynccontextmanager
async def _translated(url: str) -> AsyncIterator[None]:
    """Turn aiohttp and socket errors into the aiodl tree, with the URL masked."""
    try:
        yield
    except TimeoutError as error:
        raise DownloadTimeout(f"timed out: {mask_url(url)}", url=mask_url(url)) from error
    except aiohttp.ClientPayloadError as error:
        # Its text names aiohttp's parser states (and an internal code that looks like a
        # status); what happened is simply that the body stopped short.
        raise TransferError("the response body ended early", url=mask_url(url)) from error
    except _READ_ERRORS as error:
        message = f"{type(error).__name__}: {_safe_reason(error)}"
        raise TransferError(message, url=mask_url(url)) from error


def _safe_reason(error: BaseException) -> str:
    """The error text without URLs aiohttp may embed (they could hold credentials)."""
    text = str(error)
    for word in text.split():
        if "://" in word:
            text = text.replace(word, mask_url(word.strip("'\",()")))
    return text


class HTTPBody:
    """One response body, written as it arrives."""

    def __init__(self, response: aiohttp.ClientResponse, info: RemoteFile) -> None:
        self._response = response
        self.info = info
        self._rest: memoryview | None = None  # what the last call's limit cut off

    async def copy_to(self, sink: Sink, offset: int, limit: int) -> int:
        """Wait for the next chunk, add what else has already arrived (up to ``limit``),
        and write it all with one positional write: few syscalls when data comes fast,
        and nothing is held back waiting for more."""
        content = self._response.content
        chunk: bytes | memoryview = self._rest or await self._next()
        self._rest = None
        chunks: list[bytes | memoryview] = []
        total = 0
        while chunk:
            if len(chunk) > limit - total:
                self._rest = memoryview(chunk)[limit - total :]
                chunk = memoryview(chunk)[: limit - total]
            chunks.append(chunk)
            total += len(chunk)
            if total >= limit:
                break
            try:
                chunk = content.read_nowait(limit - total)
            except _READ_ERRORS:
                break  # the next call's readany raises it, after these bytes are kept
        if chunks:
            sink.write(offset, chunks)
        return total

    async def _next(self) -> bytes:
        async with _translated(self.info.url):
            return await self._response.content.readany()

    async def aclose(self) -> None:
        self._response.close()


class HTTPDriver:
    """Opens byte ranges of HTTP(S) URLs, following redirects under our own rules."""

    def __init__(self, session: aiohttp.ClientSession, max_redirects: int) -> None:
        self._session = session
        self._max_redirects = max_redirects

    @classmethod
    def start(
        cls, timeout: float, connections: int, verify: bool | ssl.SSLContext, max_redirects: int
    ) -> HTTPDriver:
        """A driver with its own keep-alive session; ``aclose`` ends it."""
        return cls(new_session(timeout, connections, verify), max_redirects)

    async def aclose(self) -> None:
        await wait_closed(self._session)

    async def open(
        self, source: Source, start: int, end: int | None, known: RemoteFile | None
    ) -> Body:
        extra = {"Accept-Encoding": "identity"}
        if known is None or known.ranged:
            extra["Range"] = range_header(start, end)
            validator = known and _if_range(known)
            if validator:  # the server itself refuses to mix versions: a change gives 200
                extra["If-Range"] = validator
        response = await self._get(source, extra)
        try:
            info = _describe(response, start, end, known)
        except BaseException:
            response.close()
            raise
        return HTTPBody(response, info)

    async def _get(self, source: Source, extra: dict[str, str]) -> aiohttp.ClientResponse:
        """GET with redirects followed by hand, so credentials never cross origins."""
        url, headers = source.url, dict(source.headers)
        for _ in range(self._max_redirects + 1):
            async with _translated(url):
                response = await self._session.get(
                    url, headers={**headers, **extra}, allow_redirects=False
                )
            location = response.headers.get("Location")
            if response.status not in _REDIRECTS or location is None:
                _raise_for_status(response)
                return response
            response.close()
            target = redirect_url(url, location)
            headers = redirect_headers(headers, source.credentials, url, target)
            url = target
        raise DownloadError(f"more than {self._max_redirects} redirects", url=mask_url(source.url))


def _if_range(known: RemoteFile) -> str | None:
    """The validator for If-Range: a strong ETag, else Last-Modified (RFC 9110 13.1.5)."""
    if known.etag and not known.etag.startswith("W/"):
        return known.etag
    return known.last_modified


def _raise_for_status(response: aiohttp.ClientResponse) -> None:
    if response.status in (200, 206, 416):
        return  # 416 is read by _describe: an empty file, or a file that shrank
    response.close()
    retry_after = parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
    url = mask_url(str(response.url))
    raise HTTPStatusError(
        f"HTTP {response.status} {response.reason or ''}".rstrip(),
        status=response.status,
        url=url,
        retry_after=retry_after,
    )


def _describe(
    response: aiohttp.ClientResponse, start: int, end: int | None, known: RemoteFile | None
) -> RemoteFile:
    """Check the response against the request and what we knew; describe the file."""
    headers = response.headers
    url = str(response.url)
    if response.status == 416:
        return _unsatisfiable(response, start, known)
    if response.status == 200:
        size = _content_length(headers)
        if start > 0 or (end is not None and (known is None or known.ranged)):
            if known is not None:  # an If-Range that failed: the file changed?
                _check_same_version(known, _version(url, size, headers))
            raise RangeIgnored(f"server answered 200 to a range request for {mask_url(url)}")
        ranged = headers.get("Accept-Ranges", "").lower() == "bytes"
    else:
        parsed = parse_content_range(headers.get("Content-Range"))
        if parsed is None or not range_matches(parsed, start, end):
            raise RangeIgnored(
                f"asked for {range_header(start, end)}, got Content-Range "
                f"{headers.get('Content-Range')!r}"
            )
        size = parsed.total
        ranged = True
        _check_length(headers, start, end, size)
    whole = response.status == 200 or (start == 0 and end is None)
    info = RemoteFile(
        url=url,
        size=size,
        ranged=ranged,
        digest=server_digest(headers, whole_file=whole),
        etag=headers.get("ETag"),
        last_modified=headers.get("Last-Modified"),
        disposition=headers.get("Content-Disposition"),
    )
    if known is not None:
        _check_same_version(known, info)
    return info


def _unsatisfiable(
    response: aiohttp.ClientResponse, start: int, known: RemoteFile | None
) -> RemoteFile:
    """A 416: to ``bytes=0-`` with ``bytes */0`` the file is empty; to a range of a file we
    know, the file no longer reaches that far (it changed); else a plain error."""
    parsed = response.headers.get("Content-Range", "")
    url = str(response.url)
    if start == 0 and known is None and parsed == "bytes */0":
        return RemoteFile(url, 0, ranged=False)
    if known is not None:
        raise FileChangedError(
            f"file changed on the server: bytes {start}- of {known.size} refused ({parsed!r})",
            url=mask_url(url),
        )
    raise HTTPStatusError(f"HTTP 416 for {mask_url(url)}", status=416, url=mask_url(url))


def _version(url: str, size: int | None, headers: CIMultiDictProxy[str]) -> RemoteFile:
    return RemoteFile(
        url, size, False, etag=headers.get("ETag"), last_modified=headers.get("Last-Modified")
    )


def _content_length(headers: CIMultiDictProxy[str]) -> int | None:
    """The body length, refusing duplicate headers that disagree (a smuggling signal)."""
    values = set(headers.getall("Content-Length", []))
    if len(values) > 1:
        raise IntegrityError(f"conflicting Content-Length headers: {sorted(values)}")
    value = headers.get("Content-Length")
    return int(value) if value is not None and value.isdigit() else None


def _check_length(
    headers: CIMultiDictProxy[str], start: int, end: int | None, size: int | None
) -> None:
    """A 206's Content-Length, when present, must equal the length of the range."""
    length = _content_length(headers)
    stop = end if end is not None else size
    if length is not None and stop is not None and length != stop - start:
        raise IntegrityError(f"Content-Length {length} does not match range {start}-{stop}")


def _check_same_version(known: RemoteFile, seen: RemoteFile) -> None:
    """Refuse bytes of another version: different ETag, Last-Modified or size."""
    for label, old, new in (
        ("ETag", known.etag, seen.etag),
        ("Last-Modified", known.last_modified, seen.last_modified),
        ("size", known.size, seen.size),
    ):
        if old is not None and new is not None and old != new:
            raise FileChangedError(f"file changed on the server ({label} {old} -> {new})")


def new_session(
    timeout: float, connections: int, verify: bool | ssl.SSLContext
) -> aiohttp.ClientSession:
    """One keep-alive session for a whole run; raw bytes, our own redirect handling.

    ``verify`` True checks certificates against the system CAs, an SSLContext is used as
    given (a private CA), and False turns checking off (an explicit opt-in).
    """
    tls: bool | ssl.SSLContext = True if verify is True else verify
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=0, ssl=tls)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout),
        auto_decompress=False,
        read_bufsize=1 << 20,
        raise_for_status=False,
        trust_env=False,
    )


async def wait_closed(session: aiohttp.ClientSession) -> None:
    """Close the session and give SSL transports the tick they need to shut down."""
    await session.close()
    await asyncio.sleep(0)
