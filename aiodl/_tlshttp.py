"""HTTPS through aiohttp: its keep-alive pool and TLS, our rules on top.

TLS is decrypted in user space, so a body must pass through Python anyway; aiohttp's
session does that well. Plain ``http://`` goes through ``_rawhttp`` instead, which can
splice. Imported only when a run meets an ``https://`` URL.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from multidict import CIMultiDictProxy

from ._driver import RemoteFile, Sink
from ._exceptions import DownloadTimeout, TransferError
from ._rules import mask_url

_READ_ERRORS = (aiohttp.ClientError, OSError)


@asynccontextmanager
async def translated(url: str) -> AsyncIterator[None]:
    """aiohttp's errors into the aiodl tree, with the URL masked."""
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


class TLSResponse:
    """An aiohttp response seen through the shape the HTTP driver reads."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.reason = response.reason or ""
        self.headers: CIMultiDictProxy[str] = response.headers
        self.url = str(response.url)

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
        async with translated(self.info.url):
            return await self._response.content.readany()

    async def aclose(self) -> None:
        self._response.close()


class TLSClient:
    """One keep-alive aiohttp session for a run's HTTPS requests; raw bytes, no redirects
    (the driver follows them by its own rules).

    ``verify`` True checks certificates against the system CAs, an SSLContext is used as
    given (a private CA), and False turns checking off (an explicit opt-in).
    """

    def __init__(self, timeout: float, connections: int, verify: bool | ssl.SSLContext) -> None:
        tls: bool | ssl.SSLContext = True if verify is True else verify
        connector = aiohttp.TCPConnector(limit=connections, limit_per_host=0, ssl=tls)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout),
            auto_decompress=False,
            read_bufsize=1 << 20,
            raise_for_status=False,
            trust_env=False,
            # No cookies until they are a feature (then with their rules, on both
            # transports): the default jar resent a server's cookie to another port.
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def get(self, url: str, headers: dict[str, str]) -> TLSResponse:
        async with translated(url):
            response = await self._session.get(url, headers=headers, allow_redirects=False)
        return TLSResponse(response)

    async def aclose(self) -> None:
        """Close the session and give SSL transports the tick they need to shut down."""
        await self._session.close()
        await asyncio.sleep(0)
