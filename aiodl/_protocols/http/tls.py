"""HTTPS through aiohttp: its keep-alive pool and TLS, our rules on top.

TLS is decrypted in user space, so a body must pass through Python anyway; aiohttp's
session does that well. Plain ``http://`` goes through ``plain`` instead, which can
splice. Imported only when a run meets an ``https://`` URL.

aiohttp parses the head itself; its fields then go through the same checks as ours
(``_http1.header_fields`` and ``framing``), so both transports refuse the same heads and
read header values the same way (latin-1, byte for byte). Where aiohttp's parser refuses
first (it also refuses repeated Content-Length and Transfer-Encoding beside it), the
refusal is worded as its own but is the same malformed-response failure.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from contextlib import AbstractContextManager

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDictProxy

from ..._credentials import mask_text, mask_url
from ..._exceptions import (
    ConnectError,
    DownloadError,
    ErrorTable,
    TransferError,
    map_exceptions,
)
from ..._network.connect import failure
from ..._network.sockcopy import Sink
from ..._urls import Resolve, url_authority
from ..driver import RemoteFile
from .wire import (
    MAX_FIELDS,
    MAX_HEAD,
    Framing,
    Head,
    ProtocolError,
    framing,
    header_fields,
    malformed,
)

_READ_ERRORS = (aiohttp.ClientError, OSError)


def _read_failure(error: aiohttp.ClientError | OSError, url: str) -> DownloadError:
    """A body or connection that failed: aiohttp's parser refusing the response is a
    malformed response; a socket error is worded as for plain sockets; the rest (a
    server that disconnected) is one sentence naming host:port."""
    refused = _parser_refusal(error.__cause__)
    if refused is not None:
        return malformed(refused, mask_url(url))
    if isinstance(error, OSError):
        return failure(error, url)
    reason = _safe_reason(error)
    message = f"connection to {url_authority(url)} failed: {reason[:1].lower()}{reason[1:]}"
    return TransferError(message, url=mask_url(url))


_ERRORS: ErrorTable = {  # subclasses first
    aiohttp.ClientConnectorCertificateError: lambda error, url: ConnectError(
        _untrusted(error, url), url=mask_url(url), retries=0
    ),
    aiohttp.ClientConnectorError: lambda error, url: failure(error.os_error, url),
    ProtocolError: lambda error, url: malformed(error, mask_url(url)),
    # Its text names aiohttp's parser states (and an internal code that looks like a
    # status); what happened is simply that the body stopped short.
    aiohttp.ClientPayloadError: lambda error, url: TransferError(
        "the response body ended early", url=mask_url(url)
    ),
    aiohttp.ClientError: _read_failure,
    OSError: _read_failure,  # resets, and aiohttp's timeouts
}


def translated(url: str) -> AbstractContextManager[None]:
    """aiohttp's errors into the aiodl tree, worded and classified as for plain sockets
    (``failure``), with the URL masked."""
    return map_exceptions(_ERRORS, url)


def _untrusted(error: aiohttp.ClientConnectorCertificateError, url: str) -> str:
    """Why the certificate was refused, and the two ways on (curl's exit 60)."""
    why = getattr(error.certificate_error, "verify_message", None) or "not trusted"
    return (
        f"certificate verify failed for {mask_url(url)}: {why.rstrip('.')}; "
        "use --cacert FILE to trust its CA, or --insecure"
    )


def _parser_refusal(error: BaseException | None) -> ProtocolError | None:
    """aiohttp's parser refused the response: its reason, without the bytes it quotes."""
    if not isinstance(error, HttpProcessingError):
        return None
    reason = error.message.split("\n", 1)[0].split(": b", 1)[0].rstrip(":")
    return ProtocolError(reason[:120] or "unparsable response")


def _safe_reason(error: BaseException) -> str:
    """The error text without URLs aiohttp may embed (they could hold credentials)."""
    text = error.message if isinstance(error, aiohttp.ClientResponseError) else str(error)
    return mask_text(text) or type(error).__name__


class _Resolver(AbstractResolver):
    """The run's ``resolve`` as aiohttp's resolver: HTTPS looks names up where the
    plain-HTTP and FTP connections do."""

    def __init__(self, resolve: Resolve) -> None:
        self._resolve = resolve

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found: list[ResolveResult] = []
        for address in await self._resolve(host, port):
            kind = socket.AF_INET6 if ":" in address else socket.AF_INET
            if family in (socket.AF_UNSPEC, kind):
                numeric = socket.AI_NUMERICHOST
                found.append(
                    ResolveResult(
                        hostname=host, host=address, port=port, family=kind, proto=0, flags=numeric
                    )
                )
        if not found:
            raise socket.gaierror(socket.EAI_NONAME, "the resolver found no address")
        return found

    async def close(self) -> None:
        pass


class TLSResponse:
    """An aiohttp response seen through the shape the HTTP driver reads; its head is
    checked like a plain-HTTP one (a ProtocolError refuses it)."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.reason = response.reason or ""
        self.headers: CIMultiDictProxy[str] = header_fields(response.raw_headers)
        self.url = str(response.url)
        minor = 1 if response.version is None else response.version.minor
        self.framing: Framing = framing(Head(self.status, self.reason, self.headers, minor))

    def body(self, info: RemoteFile) -> TLSBody:
        return TLSBody(self._response, info)

    def close(self) -> None:
        self._response.close()


class TLSBody:
    """One response body, written as it arrives."""

    def __init__(self, response: aiohttp.ClientResponse, info: RemoteFile) -> None:
        self._response = response
        self.info = info
        self._rest: memoryview | None = None  # what the last call's limit cut off
        self._watch = _ParserWatch(response)

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
            except (*_READ_ERRORS, ProtocolError):
                break  # the next call's readany raises it, after these bytes are kept
        if chunks:
            sink.write(offset, chunks)
        return total

    async def _next(self) -> bytes:
        with translated(self.info.url):
            return await self._response.content.readany()

    async def aclose(self) -> None:
        self._watch.stop()
        self._response.close()


class _ParserWatch:
    """Fails a body that aiohttp's parser gave up on after the head.

    aiohttp 3.14 (its C parser): a malformed chunk or an oversize trailer closes the
    connection, but the body is neither ended nor failed and its read timeout is
    dropped, so reading it waits for ever. When the connection goes with a parser error
    and the body still open, the body is failed with the parser's reason.
    """

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._content = response.content
        connection = response.connection
        self._protocol = None if connection is None else connection.protocol
        self._closed = None if self._protocol is None else self._protocol.closed
        if self._closed is not None:
            self._closed.add_done_callback(self._check)
        elif self._protocol is not None:  # it went before the watch began
            self._check()

    def _check(self, _: object = None) -> None:
        refused = _parser_refusal(None if self._protocol is None else self._protocol.exception())
        content = self._content
        if refused is not None and not content.is_eof() and content.exception() is None:
            content.set_exception(refused)

    def stop(self) -> None:
        """The body is done with: a kept-alive connection must not collect watches."""
        if self._closed is not None:
            self._closed.remove_done_callback(self._check)
            self._closed = None


class TLSClient:
    """One keep-alive aiohttp session for a run's HTTPS requests; raw bytes, no redirects
    (the driver follows them by its own rules).

    ``verify`` True checks certificates against the system CAs, an SSLContext is used as
    given (a private CA), and False turns checking off (an explicit opt-in). ``resolve``
    replaces the system resolver. Heads are bounded as plain-HTTP ones are (a 9 KB header
    line is fine, 64 KiB is the limit).
    """

    def __init__(
        self,
        timeout: float,
        connections: int,
        verify: bool | ssl.SSLContext,
        resolve: Resolve | None = None,
    ) -> None:
        tls: bool | ssl.SSLContext = True if verify is True else verify
        connector = aiohttp.TCPConnector(
            limit=connections,
            limit_per_host=0,
            ssl=tls,
            resolver=None if resolve is None else _Resolver(resolve),
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout),
            auto_decompress=False,
            read_bufsize=1 << 20,
            raise_for_status=False,
            trust_env=False,
            max_line_size=MAX_HEAD,
            max_field_size=MAX_HEAD,
            max_headers=MAX_FIELDS,
            # No cookies until they are a feature (then with their rules, on both
            # transports): the default jar resent a server's cookie to another port.
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def get(self, url: str, headers: dict[str, str]) -> TLSResponse:
        with translated(url):
            response = await self._session.get(url, headers=headers, allow_redirects=False)
            try:
                return TLSResponse(response)
            except BaseException:
                response.close()
                raise

    async def aclose(self) -> None:
        """Close the session and give SSL transports the tick they need to shut down."""
        await self._session.close()
        await asyncio.sleep(0)
