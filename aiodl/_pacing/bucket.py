"""A token bucket for bandwidth limits: bytes are spent after they arrive, and a spender
waits out the debt.

The arithmetic (``spend``) is pure and takes the time as an argument; ``Throttle`` adds
the clock and the sleep. The burst is a tenth of a second's worth (at least 64 KiB), so
a 20 MB file at 5 MB/s takes 3.9 s, not the 3 s a one-second burst would allow.
Connections sharing a bucket share its rate: each waits for its own share of the debt.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MIN_BURST = 64 << 10


@dataclass
class TokenBucket:
    """``rate`` bytes per second, ``burst`` bytes at most saved up."""

    rate: float
    burst: float
    level: float = field(init=False)
    stamp: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.level = self.burst

    def spend(self, nbytes: int, now: float) -> float:
        """Take ``nbytes`` at time ``now``; the seconds the spender must now wait."""
        if self.stamp is not None:
            self.level = min(self.burst, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        self.level -= nbytes
        return max(0.0, -self.level / self.rate)


class Throttle:
    """A bucket on the event loop's clock. ``chunk`` is how much one read may take."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        burst = max(float(MIN_BURST), rate / 10)
        self._bucket = TokenBucket(rate, burst)
        self._clock = clock
        self.chunk = int(burst)

    async def spend(self, nbytes: int) -> None:
        wait = self._bucket.spend(nbytes, self._clock())
        if wait:
            await asyncio.sleep(wait)
