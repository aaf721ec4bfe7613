"""The scripted-bytes ``RawServer`` behind TLS, so one table of raw responses can be run
against both transports (``http://`` on aiodl's own sockets, ``https://`` on aiohttp).

The certificate comes from a private ``trustme`` CA; ``trusting`` is the client context
that trusts it (pass it as ``verify=``).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trustme

from testing.servers.rawhttp import RawServer


class TLSRawServer(RawServer):
    """A ``RawServer`` whose URLs are ``https://``."""

    def url(self, name: str) -> str:
        return f"https://127.0.0.1:{self.port}/{name}"


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@asynccontextmanager
async def running_raw_tls(ca: trustme.CA) -> AsyncIterator[TLSRawServer]:
    """Run a ``TLSRawServer`` on a free port of 127.0.0.1 with a certificate from ``ca``."""
    server = TLSRawServer()
    listener = await asyncio.start_server(server.connection, "127.0.0.1", 0, ssl=server_context(ca))
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()
        await server.close()
        await listener.wait_closed()
