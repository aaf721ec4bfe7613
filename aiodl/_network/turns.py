"""Giving the event loop its turn during long work on it.

A socket that always has data waiting never makes a read wait, and parsing a big listing
never awaits at all: without a turn given back now and then, one fast body or one huge
folder holds the caller's loop, and every other transfer and the caller's own tasks, to
its end. ``Turns`` is called between pieces of work and yields once enough time or bytes
have passed.

The time is the loop's, not each copy's: eight segments that each took their own 2 ms
would hold one pass of the loop for 16 ms and more. So all ``Turns`` of a loop share one
budget per pass: once it is spent, every copy that comes to a turn yields at once, until
the loop's next pass renews it (a callback queued when it ran out).
"""

from __future__ import annotations

import asyncio
import time
import weakref

BYTES = 4 << 20
SECONDS = 0.002


class _Budget:
    """One loop's time for work between passes; ``renewed`` is set while it lasts."""

    def __init__(self) -> None:
        self.since = time.monotonic()
        self.renewed = asyncio.Event()
        self.renewed.set()

    @property
    def spent(self) -> bool:
        return not self.renewed.is_set()

    def spend(self, loop: asyncio.AbstractEventLoop) -> None:
        """Out of time: renewed in the loop's next pass, after what is ready now."""
        self.renewed.clear()
        loop.call_soon(self._renew)

    def _renew(self) -> None:
        self.since = time.monotonic()
        self.renewed.set()


_BUDGETS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Budget] = (
    weakref.WeakKeyDictionary()
)


class Turns:
    """Yield to the loop once the loop's pass has run ``seconds`` of work, or after
    ``nbytes`` moved here, whichever comes first."""

    def __init__(self, seconds: float = SECONDS, nbytes: int = BYTES) -> None:
        self._seconds, self._limit = seconds, nbytes
        self._bytes = 0

    async def give(self, nbytes: int = 0) -> None:
        """``nbytes`` more were handled; yield if a turn is due (call it before the next
        piece of work, so a spent pass costs no more work at all)."""
        self._bytes += nbytes
        loop = asyncio.get_running_loop()
        budget = _BUDGETS.get(loop)
        if budget is None:
            budget = _BUDGETS[loop] = _Budget()
        if not self._due(budget) and self._bytes < self._limit:
            return
        self._bytes = 0
        if not budget.spent:
            budget.spend(loop)
        while budget.spent:  # woken, but a copy woken before this one spent it again
            await budget.renewed.wait()

    def _due(self, budget: _Budget) -> bool:
        return budget.spent or time.monotonic() - budget.since >= self._seconds
