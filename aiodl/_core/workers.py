"""Workers that start as jobs arrive, up to a bound.

A run may allow 1024 connections (twice as many files in hand): started up front, that is
2048 idle tasks for a run of one file. Here a worker starts only when a job comes and no
worker is free to take it, so a run never holds more workers than jobs it was given.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Workers(Generic[T]):
    """Hands each job given to ``put`` to a worker running ``handle``; at most ``most``
    workers, each started in ``group`` when no started one is free for the job."""

    def __init__(
        self, group: asyncio.TaskGroup, most: int, handle: Callable[[T], Awaitable[None]]
    ) -> None:
        self._group, self._most, self._handle = group, most, handle
        self._queue: asyncio.Queue[T | None] = asyncio.Queue(most)
        self._started = 0
        self._free = 0  # started workers not busy with a job: each takes the next queued

    async def put(self, job: T) -> None:
        """Queue ``job``, starting a worker for it unless one is free; waits while the
        queue is full (every worker busy): a slow run holds its producer back."""
        if self._free <= self._queue.qsize() and self._started < self._most:
            self._started += 1
            self._free += 1
            self._group.create_task(self._work())
        await self._queue.put(job)

    async def close(self) -> None:
        """No more jobs: each worker ends after the jobs still queued."""
        for _ in range(self._started):
            await self._queue.put(None)

    async def _work(self) -> None:
        while (job := await self._queue.get()) is not None:
            self._free -= 1
            await self._handle(job)
            self._free += 1
