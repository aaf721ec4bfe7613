"""Per-host connection limits that a host can lower while they are in use.

``asyncio.Semaphore`` cannot shrink: once a server answers "421 too many connections",
the connections it did accept must finish, and no new one may start until fewer than the
lowered limit are in use. ``HostLimit`` does that; ``limited`` applies it to one request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from ._exceptions import ConnectionLimitError

T = TypeVar("T")


class HostLimit:
    """At most ``limit`` connections to one host; ``lower`` when the host refuses one.

    Waiters are woken one per release, in arrival order; a woken waiter checks the limit
    again, so a lowered limit is honoured by everyone still waiting, and keeps its turn.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        await self.acquire()
        try:
            yield
        finally:
            self.release()

    async def acquire(self) -> None:
        if not self._waiters and self.in_use < self.limit:
            self.in_use += 1
            return
        turn = self._waiters.append
        while True:
            waiter = asyncio.get_running_loop().create_future()
            turn(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # woken and cancelled at once: pass the turn on
                else:
                    with contextlib.suppress(ValueError):
                        self._waiters.remove(waiter)
                raise
            if self.in_use < self.limit:
                self.in_use += 1
                return
            turn = self._waiters.appendleft  # woken too early (a lowered limit): stay first

    def release(self) -> None:
        self.in_use -= 1
        self._wake()

    def lower(self) -> None:
        """The host refused one connection more than it allows: one fewer from now on."""
        self.limit = max(1, self.limit - 1)

    async def requeue(self) -> None:
        """Give up the place this caller holds and wait for one under the current limit."""
        self.release()
        try:
            await self.acquire()
        except BaseException:
            self.in_use += 1  # still counted as held: the holder's exit releases it
            raise

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


async def limited(host: HostLimit, action: Callable[[], Awaitable[T]]) -> T:
    """Run ``action`` in a place held on ``host``; if the host refuses the connection,
    lower its limit and wait for a place under it before the error goes on to the retry
    policy (so the retry does not knock on a full server again)."""
    try:
        return await action()
    except ConnectionLimitError:
        host.lower()
        await host.requeue()
        raise


class Slot:
    """One connection's place: under its host's limit and under the run's.

    ``paused`` gives both back while the holder only waits (a retry's backoff, perhaps a
    server's Retry-After), so other files can use them meanwhile, and takes them again
    before the next try. ``give_back`` returns them for good when the holder needs no
    connection any more (it is a no-op when not held, as is the exit then).
    """

    def __init__(self, host: HostLimit, run: asyncio.Semaphore) -> None:
        self._host, self._run = host, run
        self._held = False

    async def __aenter__(self) -> Slot:
        await self.take()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.give_back()

    async def take(self) -> None:
        """Hold the place (again); nothing to do when already held."""
        if self._held:
            return
        await self._host.acquire()
        try:
            await self._run.acquire()
        except BaseException:
            self._host.release()
            raise
        self._held = True

    def give_back(self) -> None:
        if self._held:
            self._held = False
            self._run.release()
            self._host.release()

    @asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        self.give_back()
        try:
            yield
        finally:
            await self.take()  # cancelled here: not held, so the exit releases nothing
