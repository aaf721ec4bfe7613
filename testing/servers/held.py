"""A FaultServer whose files can be held mid-body until the test lets them go.

``hold(name, at)`` makes the next response for ``name`` that covers byte ``at`` send the
bytes before it, then wait: ``reached`` is set once it waits, and the rest follows when
the test calls ``release``. With ``before_head`` the response waits before its head is
sent, so the client has not even chosen the file's name yet. A test holds a download at
a known point with events, never a sleep, while a second writer changes the
destination folder.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web

from testing.servers.http import FaultServer

HOLD_TIMEOUT = 30.0  # a generous guard: a test that never releases fails, it never hangs


@dataclass
class Hold:
    at: int
    before_head: bool = False
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_reached(self) -> None:
        await asyncio.wait_for(self.reached.wait(), HOLD_TIMEOUT)

    def release(self) -> None:
        self.released.set()

    async def _pause(self) -> None:
        self.reached.set()
        await asyncio.wait_for(self.released.wait(), HOLD_TIMEOUT)


class HeldServer(FaultServer):
    """FaultServer plus holds; a file is held once, later responses run freely."""

    def __init__(self) -> None:
        super().__init__()
        self.holds: dict[str, Hold] = {}

    def hold(self, name: str, at: int = 0, *, before_head: bool = False) -> Hold:
        self.holds[name] = Hold(at, before_head)
        return self.holds[name]

    def _pending(self, name: str) -> Hold | None:
        hold = self.holds.get(name)
        return None if hold is None or hold.reached.is_set() else hold

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        hold = self._pending(request.path.lstrip("/"))
        if hold is not None and hold.before_head and request.method == "GET":
            await hold._pause()
        return await super()._answer(request)

    async def _send(
        self, request: web.Request, response: web.StreamResponse, name: str, start: int, end: int
    ) -> None:
        hold = self._pending(name)
        if hold is None or hold.before_head or not start <= hold.at < end:
            await super()._send(request, response, name, start, end)
            return
        data = self.files[name]
        if hold.at > start:
            await response.write(data[start : hold.at])
        await hold._pause()
        await response.write(data[hold.at : end])
        await response.write_eof()
