"""Per-host connection limits that follow what the host says, shared by a whole run.

``asyncio.Semaphore`` cannot shrink: once a server answers "421 too many connections" or
429, the connections it did accept must finish, and no new one may start until fewer
than the lowered limit are in use. ``HostLimit`` keeps a ``HostPolicy`` (AIMD limit and
Retry-After deadline, pure) and makes connections wait for it; ``limited`` runs one
request under it and reports the answer back to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar
from urllib.parse import urlsplit

from .._exceptions import ConnectionLimitError, DownloadError, HTTPStatusError, TransferError
from .bucket import Throttle
from .hostpolicy import OVERLOAD_STATUS, HostPolicy

T = TypeVar("T")


class HostLimit:
    """At most ``limit`` connections to one host, none before its Retry-After deadline,
    and at most ``rate`` bytes per second from it when given.

    Waiters are woken one per release, in arrival order; a woken waiter checks the limit
    again, so a lowered limit is honoured by everyone still waiting, and keeps its turn.
    """

    def __init__(self, limit: int, rate: float | None = None, max_wait: float = math.inf) -> None:
        self.policy = HostPolicy(limit, max_wait)
        self.throttle = Throttle(rate) if rate else None  # the host's bandwidth cap
        self.in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def limit(self) -> int:
        return self.policy.allowed

    async def ready(self, slot: Slot | None = None) -> None:
        """Wait out the host's Retry-After deadline, lending ``slot`` meanwhile."""
        if self.policy.wait(asyncio.get_running_loop().time()) <= 0:
            return
        if slot is None:
            await self._deadline()
            return
        async with slot.paused():
            await self._deadline()

    def note(self, error: BaseException | None) -> None:
        """What a request's outcome says of the host: success, overload, or neither."""
        before = self.limit
        if error is None:
            self.policy.on_success()
        elif isinstance(error, HTTPStatusError) and error.status in OVERLOAD_STATUS:
            self.policy.on_overload(asyncio.get_running_loop().time(), error.retry_after)
        elif _reset(error):
            self.policy.on_overload(asyncio.get_running_loop().time(), None)
        for _ in range(self.limit - before):
            self._wake()  # grown: a waiter more may go

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        await self.acquire()
        try:
            yield
        finally:
            self.release()

    async def acquire(self) -> None:
        await self._deadline()
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

    async def _deadline(self) -> None:
        """Sleep until the host's Retry-After deadline, which may move on meanwhile."""
        loop = asyncio.get_running_loop()
        while True:
            wait = self.policy.wait(loop.time())
            if wait <= 0:
                return
            await asyncio.sleep(wait)  # the host asked for a pause: no new connection

    def release(self) -> None:
        self.in_use -= 1
        self._wake()

    def lower(self) -> None:
        """The host refused one connection more than it allows: one fewer from now on."""
        self.policy.on_refused()

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


def _reset(error: BaseException) -> bool:
    """Whether the host reset or refused the connection: a sign of overload, unlike a
    short body or a bad answer, which say nothing of the host's load."""
    if not isinstance(error, TransferError) or isinstance(error, ConnectionLimitError):
        return False
    cause = error.__cause__ or error.__context__
    return isinstance(cause, ConnectionResetError | ConnectionRefusedError | BrokenPipeError)


async def limited(
    host: HostLimit,
    action: Callable[[], Awaitable[T]],
    *,
    slot: Slot | None = None,
    give_way: Callable[[], bool] = lambda: False,
) -> T:
    """Run one request of ``action`` in a place held on ``host`` (``slot``): not before
    the host's Retry-After deadline, and with its outcome noted in the host's policy.

    If the host refuses the connection, its limit drops and the caller waits for a place
    under it before the error goes on to the retry policy (so the retry does not knock on
    a full server again), unless ``give_way()`` says the caller will leave instead.
    """
    await host.ready(slot)
    try:
        result = await action()
    except ConnectionLimitError:
        host.lower()
        if not give_way():
            await host.requeue()
        raise
    except DownloadError as error:
        host.note(error)
        raise
    host.note(None)
    return result


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
        """Not held during the block; held again after it, only if it ended normally: a
        cancelled wait (Ctrl-C, a timeout) must not wait again for a place, perhaps
        through the host's Retry-After deadline. Not held, the exit releases nothing."""
        self.give_back()
        yield
        await self.take()


class Hosts:
    """Every host's limit in one run, and the run's own bound on connections: where each
    connection takes its place (``slot``)."""

    def __init__(
        self, per_host: int, connections: int, rate: float | None, max_wait: float
    ) -> None:
        self._per_host, self._rate, self._max_wait = per_host, rate, max_wait
        self._run = asyncio.Semaphore(connections)
        self._limits: dict[str, HostLimit] = {}

    def host(self, url: str) -> HostLimit:
        """The limit of ``url``'s host (scheme-less ``host:port``), made on first use."""
        key = urlsplit(url).netloc.lower()
        limit = self._limits.get(key)
        if limit is None:
            limit = self._limits[key] = HostLimit(self._per_host, self._rate, self._max_wait)
        return limit

    def slot(self, url: str) -> Slot:
        """One connection's place: the host's bound first, then the run's."""
        return Slot(self.host(url), self._run)
