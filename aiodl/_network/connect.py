"""Opening TCP connections as curl does, and socket failures as sentences.

A name's addresses are all tried, in the resolver's order with the families
interleaved, each starting 250 ms after the one before unless that one has failed
already (Happy Eyeballs, RFC 8305, by ``aiohappyeyeballs``, which aiohttp uses for
HTTPS too): an address that refuses costs nothing and one that never answers costs a
quarter second, not the timeout. The address that answered is kept per (host, port) for
the run, so later connections skip both the lookup and the race; when it stops
answering it is forgotten and the name is resolved again.

``failure`` is the one place where a socket error becomes an aiodl error: a plain
sentence naming host:port (never an errno or an exception class), and, for failures
that another try cannot mend, a ``ConnectError`` saying how many tries it is worth.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import ssl
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from aiohappyeyeballs import AddrInfoType, start_connection

from .._credentials import mask_url
from .._exceptions import ConnectError, DownloadError, DownloadTimeout, TransferError
from .._urls import Resolve, is_literal, url_authority

STAGGER = 0.25  # RFC 8305's "Connection Attempt Delay", as in curl and aiohttp
# getaddrinfo's answers for a name that does not exist (not "try again later").
_UNKNOWN_NAME = frozenset(
    code for code in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None)) if code
)


async def system_resolve(host: str, port: int) -> list[str]:
    """The system resolver's addresses for a TCP connection, in its order."""
    found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(_text(info[4]) for info in found))


def _text(sockaddr: tuple[Any, ...]) -> str:
    """An address as text, with the scope of a link-local IPv6 one ("fe80::1%2")."""
    scope = sockaddr[3] if len(sockaddr) > 3 else 0
    return f"{sockaddr[0]}%{scope}" if scope else str(sockaddr[0])


class Connector:
    """Connects to (host, port), remembering for the run which address answered."""

    def __init__(self, resolve: Resolve | None = None) -> None:
        self._resolve = resolve or system_resolve
        self._working: dict[tuple[str, int], str] = {}

    async def connect(self, host: str, port: int) -> socket.socket:
        """A connected non-blocking socket to ``host`` (a name or an IP literal).

        The caller bounds the time; a timeout while trying the kept address forgets it.
        """
        if is_literal(host):
            return await _race(port, [host])
        key = (host, port)
        kept = self._working.get(key)
        if kept is not None:
            try:
                return await _race(port, [kept])
            except BaseException as error:  # it stopped answering, or the time ran out
                if self._working.get(key) == kept:
                    del self._working[key]
                if not isinstance(error, OSError):
                    raise
        addresses = await self._resolve(host, port)
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "the resolver found no address")
        sock = await _race(port, addresses)
        self._working[key] = _text(sock.getpeername())
        return sock


async def _race(port: int, addresses: Sequence[str]) -> socket.socket:
    infos = [_address_info(address, port) for address in addresses]
    try:
        return await start_connection(infos, happy_eyeballs_delay=STAGGER)
    except OSError as error:
        if error.errno is None and len(infos) > 1:  # differing failures, in one text
            tried = ", ".join(addresses)
            message = f"none of its addresses ({tried}) accepted a connection"
            raise ConnectionError(message) from error
        raise


def _address_info(address: str, port: int) -> AddrInfoType:
    """The getaddrinfo entry of an IP address (numeric: no lookup is made)."""
    try:
        return socket.getaddrinfo(
            address, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
        )[0]
    except socket.gaierror:
        raise socket.gaierror(socket.EAI_NONAME, f"{address!r} is not an IP address") from None


def failure(error: OSError, url: str) -> DownloadError:
    """A socket error met fetching ``url``, in the aiodl tree, the masked URL in ``.url``.

    Not worth another try: an unknown name (the same answer comes again). Worth one: a
    refused connection to an IP address (a server restarting), where a name keeps the
    policy's retries (it may move to an address that works).
    """
    masked, where = mask_url(url), url_authority(url)
    if isinstance(error, socket.gaierror):
        host = urlsplit(url).hostname or ""
        if error.errno in _UNKNOWN_NAME:
            message = f"cannot resolve {host}: {plain(error)}; check the host name"
            return ConnectError(message, url=masked, retries=0)
        return ConnectError(f"cannot resolve {host}: {plain(error)}", url=masked)
    if isinstance(error, TimeoutError):
        return DownloadTimeout(f"timed out waiting for {where}", url=masked)
    if error.errno == errno.ECONNREFUSED:
        retries = 1 if is_literal(urlsplit(url).hostname or "") else None
        message = f"cannot connect to {where}: connection refused"
        return ConnectError(message, url=masked, retries=retries)
    return TransferError(f"connection to {where} failed: {plain(error)}", url=masked)


def plain(error: OSError) -> str:
    """What went wrong, in words ("connection reset by peer"): no errno, no class."""
    if isinstance(error, ssl.SSLError):  # its errno is OpenSSL's, not the system's
        reason = getattr(error, "reason", None) or "no reason given"  # WRONG_VERSION_NUMBER
        return f"TLS failed ({reason.lower().replace('_', ' ')})"
    if error.errno and not isinstance(error, socket.gaierror):
        text = os.strerror(error.errno)
    else:
        text = error.strerror or str(error) or "the connection failed"
    return text[:1].lower() + text[1:]
