"""Ready-made responders for the byte-scripted server (testing/servers/rawhttp.py)."""

from __future__ import annotations

import asyncio

from testing.servers.rawhttp import RawRequest, Responder, head


def whole(data: bytes, *fields: str, extra: bytes = b"") -> Responder:
    """Every request answered 200 with ``fields`` and ``data``, then ``extra`` (bytes the
    head does not announce); then the connection is closed."""

    async def respond(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(head("200 OK", *fields) + data + extra)
        return False

    return respond
