"""The HTTP(S) driver: ranged GETs, redirects and version checks on either transport,
and folder URLs' index pages as listings (``folders``), so HTTP trees are walked as FTP's.

``http://`` and ``https://`` go over one transport on our own sockets (``plain``: TLS
from the stdlib ``ssl`` for ``https://``), so everything here (redirects, Content-Range
checks, version checks) and every rule of the wire holds for both schemes alike.

There is no HEAD probe. The first request of a file is ``GET`` with ``Range: bytes=0-``:
a 206 reveals the size, range support and validators and already streams the first
segment; a 200 means ranges are ignored and that same body is the whole file. This saves
a round trip per file and cannot be misled by a HEAD that lies or is refused.
"""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from typing import Protocol

from multidict import CIMultiDictProxy

from ..._credentials import Logins, mask_url, netrc_header, redirect_headers, with_userinfo
from ..._digests import server_digest
from ..._exceptions import (
    DownloadError,
    FileChangedError,
    HTTPStatusError,
    IntegrityError,
)
from ..._network.connect import Connector
from ..._urls import Resolve
from ..driver import Body, Endpoint, Held, NotModified, RangeIgnored, RemoteFile
from ..entries import Listing
from .cookies import Cookies
from .folders import index_page, read_index
from .plain import RawPool, translated
from .rules import (
    format_http_date,
    parse_content_range,
    parse_last_modified,
    parse_retry_after,
    range_header,
    range_matches,
    redirect_url,
)
from .wire import Framing, content_length, field_text

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class Response(Protocol):
    """A response whose head has arrived."""

    @property
    def status(self) -> int: ...

    @property
    def reason(self) -> str: ...

    @property
    def url(self) -> str: ...

    @property
    def headers(self) -> CIMultiDictProxy[str]: ...

    @property
    def framing(self) -> Framing:
        """How the body ends (checked as the head came: a malformed one is refused)."""
        ...

    def body(self, info: RemoteFile) -> Body: ...

    def close(self) -> None: ...


class HTTPDriver:
    """Opens byte ranges of HTTP(S) URLs, following redirects under our own rules.

    Each request of a redirect chain is dressed for its own URL: the endpoint's
    credentials only on the endpoint's origin, the netrc login of the hop's host (``logins``,
    curl's ``-n -L``), and the run's cookies due to it; every response's cookies are kept.
    """

    def __init__(
        self,
        timeout: float,
        verify: bool | ssl.SSLContext,
        max_redirects: int,
        resolve: Resolve | None = None,
        logins: Logins | None = None,
        cookies: Cookies | None = None,
    ) -> None:
        self._raw = RawPool(timeout, Connector(resolve), verify)
        self._max_redirects = max_redirects
        self._logins = logins
        self.cookies = cookies if cookies is not None else Cookies()

    async def aclose(self) -> None:
        self._raw.close()

    async def open(
        self, endpoint: Endpoint, start: int, end: int | None, known: RemoteFile | None
    ) -> Body:
        extra = {"Accept-Encoding": "identity"}
        if known is None or known.ranged:
            extra["Range"] = range_header(start, end)
            validator = known and _if_range(known)
            if validator:  # the server itself refuses to mix versions: a change gives 200
                extra["If-Range"] = validator
        if endpoint.held is not None and known is None and start == 0 and end is None:
            extra.update(_conditions(endpoint.held))
        response = await self._get(endpoint, extra)
        try:
            with translated(response.url):
                info = _describe(response, start, end, known)
                return response.body(info)
        except RangeIgnored:
            response.close()
            if known is not None or start or end is not None:
                raise  # mid-file: the transfer switches to one stream itself
            # A first request answered with another range, or a content-coded one: ask
            # for the whole file without Range, and never use ranges for it.
            return await self.open(endpoint, 0, None, RemoteFile(endpoint.url, None, False))
        except BaseException:
            response.close()
            raise

    async def list_folder(self, endpoint: Endpoint) -> Listing:
        """The entries of the folder URL's index page (see ``folders``)."""
        response = await self._get(endpoint, {"Accept-Encoding": "identity"})
        try:
            page = index_page(endpoint.url, response.url, response.headers)
            body = response.body(RemoteFile(response.url, content_length(response.headers), False))
        except BaseException:
            response.close()
            raise
        return await read_index(body, page, endpoint.url)

    async def _get(self, endpoint: Endpoint, extra: dict[str, str]) -> Response:
        """GET with redirects followed by hand, so credentials never cross origins."""
        url = endpoint.url
        for _ in range(self._max_redirects + 1):
            response = await self._exchange(url, {**self._headers_for(endpoint, url), **extra})
            self.cookies.store(url, response.headers)  # a redirect's cookies too
            location = response.headers.get("Location")
            if response.status not in _REDIRECTS or location is None:
                if response.status == 304 and endpoint.held is not None:
                    info = _not_modified(response, extra)
                    await response.body(info).aclose()  # no body: the connection is reused
                    raise NotModified(info)
                _raise_for_status(response)
                return response
            response.close()
            url = redirect_url(url, field_text(location))
        raise DownloadError(
            f"more than {self._max_redirects} redirects", url=mask_url(endpoint.url)
        )

    def _headers_for(self, endpoint: Endpoint, url: str) -> dict[str, str]:
        """The headers of a request for ``url`` in ``endpoint``'s redirect chain: the
        endpoint's credentials stay with its origin (and come back with a hop back there);
        any host without an Authorization of its own gets its netrc login."""
        if url == endpoint.url:  # the common case: no redirect
            headers = dict(endpoint.headers)
        else:
            headers = redirect_headers(endpoint.headers, endpoint.credentials, endpoint.url, url)
        if self._logins is not None and not any(k.lower() == "authorization" for k in headers):
            headers.update(netrc_header(url, self._logins))
        self.cookies.add_to(url, headers)
        return headers

    async def _exchange(self, url: str, headers: dict[str, str]) -> Response:
        """One request, on a pooled connection or a new one."""
        with translated(url):
            return await self._raw.get(url, with_userinfo(url, headers))


def _if_range(known: RemoteFile) -> str | None:
    """The validator for If-Range: a strong ETag, else Last-Modified (RFC 9110 13.1.5)."""
    return known.strong_etag or known.last_modified


def _conditions(held: Held) -> dict[str, str]:
    """ "Send it only if it changed" for the copy already there (RFC 9110 13.1)."""
    headers = {}
    if held.etag:
        headers["If-None-Match"] = held.etag
    if held.modified is not None:
        headers["If-Modified-Since"] = format_http_date(held.modified)
    return headers


def _not_modified(response: Response, sent: dict[str, str]) -> RemoteFile:
    """What a 304 says of the version: its own validators, or the ETag it matched (a
    304 to If-None-Match means the ETag sent is current, RFC 9110 13.1.2)."""
    headers = response.headers
    last_modified = headers.get("Last-Modified")
    return RemoteFile(
        response.url,
        None,
        False,
        etag=headers.get("ETag") or sent.get("If-None-Match"),
        last_modified=last_modified,
        modified=parse_last_modified(last_modified, datetime.now(UTC)),
    )


def _raise_for_status(response: Response) -> None:
    if response.status in (200, 204, 206, 416):
        return  # 204 is an empty file; 416 is read by _describe: empty, or it shrank
    response.close()
    retry_after = parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
    url = mask_url(response.url)
    raise HTTPStatusError(
        f"HTTP {response.status} {response.reason}".rstrip(),
        status=response.status,
        url=url,
        retry_after=retry_after,
    )


def _describe(
    response: Response, start: int, end: int | None, known: RemoteFile | None
) -> RemoteFile:
    """Check the response against the request and what we knew; describe the file."""
    headers = response.headers
    url = response.url
    if response.status == 416:
        return _unsatisfiable(response, start, known)
    coded = headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity")
    if response.status == 206 and coded:  # slices of a coded body cannot be spliced
        raise RangeIgnored(f"range answered with Content-Encoding {headers['Content-Encoding']!r}")
    if response.status in (200, 204):  # 204 No Content: an empty file, as curl saves it
        size = 0 if response.status == 204 else content_length(headers)
        if start > 0 or (end is not None and (known is None or known.ranged)):
            if known is not None:  # an If-Range that failed: the file changed?
                _check_same_version(known, _version(url, size, headers))
            raise RangeIgnored(
                f"server answered {response.status} to a range request for {mask_url(url)}"
            )
        # A coded body is saved as sent (as curl and aria2c do), from one stream.
        ranged = headers.get("Accept-Ranges", "").lower() == "bytes" and not coded
        ranged = ranged and (known is None or known.ranged) and response.status == 200
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
    whole = response.status in (200, 204) or (start == 0 and end is None)
    info = RemoteFile(
        url=url,
        size=size,
        ranged=ranged,
        digest=server_digest(headers, whole_file=whole),
        etag=headers.get("ETag"),
        last_modified=headers.get("Last-Modified"),
        modified=parse_last_modified(headers.get("Last-Modified"), datetime.now(UTC)),
        disposition=_text_or_none(headers.get("Content-Disposition")),
        unframed=size is None and response.framing[0] == "close",
    )
    if known is not None:
        _check_same_version(known, info)
    return info


def _unsatisfiable(response: Response, start: int, known: RemoteFile | None) -> RemoteFile:
    """A 416: to ``bytes=0-`` with ``bytes */0`` the file is empty; to a range of a file we
    know, the file no longer reaches that far (it changed); else a plain error."""
    parsed = response.headers.get("Content-Range", "")
    url = response.url
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


def _check_length(
    headers: CIMultiDictProxy[str], start: int, end: int | None, size: int | None
) -> None:
    """A 206's Content-Length, when present, must equal the length of the range."""
    length = content_length(headers)
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


def _text_or_none(value: str | None) -> str | None:
    """A header value as the text its bytes mean (``field_text``), when present."""
    return None if value is None else field_text(value)
