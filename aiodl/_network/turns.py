"""Giving the event loop its turn during long work on it.

A socket that always has data waiting never makes a read wait, and parsing a big listing
never awaits at all: without a turn given back now and then, one fast body or one huge
folder holds the caller's loop, and every other transfer and the caller's own tasks, to
its end. ``Turns`` is called between pieces of work and yields once enough time or bytes
have passed since it last did.
"""

from __future__ import annotations

import asyncio
import time

BYTES = 4 << 20
SECONDS = 0.002


class Turns:
    """Yield to the loop every ``seconds`` of work, or every ``nbytes`` moved, whichever
    comes first."""

    def __init__(self, seconds: float = SECONDS, nbytes: int = BYTES) -> None:
        self._seconds, self._limit = seconds, nbytes
        self._since = time.monotonic()
        self._bytes = 0

    async def give(self, nbytes: int = 0) -> None:
        """``nbytes`` more were handled; yield if a turn is due."""
        self._bytes += nbytes
        if self._bytes >= self._limit or time.monotonic() - self._since >= self._seconds:
            await asyncio.sleep(0)
            self._since = time.monotonic()
            self._bytes = 0
