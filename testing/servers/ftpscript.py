"""A listener on 127.0.0.1 that plays a scripted part instead of an FTP server: for
control connections no real server would send (endless greetings, endless replies).

``talk(writer)`` runs for each connection; it writes what the test wants and returns when
the client has gone. ``sent`` counts the bytes written, so tests assert how much a client
took before it gave up.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass
class Script:
    port: int
    connections: int = 0
    sent: int = 0
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def write(self, writer: asyncio.StreamWriter, data: bytes) -> bool:
        """Send ``data``; False once the client has closed the connection."""
        if writer.is_closing():
            return False
        writer.write(data)
        try:
            await writer.drain()
        except ConnectionError:
            return False
        self.sent += len(data)
        return True


Talk = Callable[[Script, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def scripted(talk: Talk) -> AsyncIterator[Script]:
    """Run the listener for the block; every connection gets ``talk``."""
    script = Script(port=0)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        script.connections += 1
        script.writers.append(writer)
        await talk(script, writer)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    script.port = server.sockets[0].getsockname()[1]
    try:
        yield script
    finally:
        for writer in script.writers:
            writer.close()
        server.close()
        await server.wait_closed()
