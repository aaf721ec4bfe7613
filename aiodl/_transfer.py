"""Moving one file's bytes: segment workers, work stealing, retries and range fallback.

A ``Transfer`` starts with the probe's open body feeding segment 0 and up to ``split - 1``
more workers, each holding a connection slot while it works. A worker that finishes its
segment steals the back half of the largest remaining one. If the server turns out not to
honour ranges, every worker stops and the file restarts as one stream from byte 0; bytes
of a full body are never spliced into a segment.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

from ._bucket import Throttle
from ._driver import Body, RangeIgnored, RemoteFile, Source
from ._exceptions import (
    ConnectionLimitError,
    DownloadError,
    DownloadTimeout,
    HTTPStatusError,
    TransferError,
)
from ._limits import HostLimit, Slot
from ._planner import Segment, plan, plan_gaps, slowest, steal, take_over
from ._retry import RetryPolicy
from ._writer import PartFile

T = TypeVar("T")
FLUSH_BYTES = 1 << 20
# The lowest-speed rule: a connection this many times slower than the file's median,
# measured over this long, is replaced when nothing else is left to split.
SLOW_FACTOR = 4.0
MEASURE_SECONDS = 1.0
_UNKNOWN_END = sys.maxsize

SlotFactory = Callable[[], AbstractAsyncContextManager[Slot]]
RetryHook = Callable[[DownloadError, float], None]
ProgressHook = Callable[[int], None]


async def retrying(
    policy: RetryPolicy,
    action: Callable[[], Awaitable[T]],
    *,
    progress: Callable[[], int],
    on_retry: RetryHook,
    slot: Slot | None = None,
) -> T:
    """Run ``action`` until it succeeds or ``policy`` gives up (then its error is raised).

    A try that moved ``progress`` forward resets the count: a flaky link that drops every
    100 MB must not exhaust the retries of a 10 GB file, while a server that delivers
    nothing fails after ``retries`` tries. While waiting between tries, ``slot`` (the
    connection place the caller holds) is lent to others.
    """
    attempt = 0
    while True:
        mark = progress()
        try:
            return await action()
        except DownloadError as error:
            if progress() != mark:
                attempt = 0
            delay = _retry_delay(policy, attempt, error)
            if delay is None:
                raise
            on_retry(error, delay)
            attempt += 1
            if slot is None:
                await asyncio.sleep(delay)
            else:
                async with slot.paused():
                    await asyncio.sleep(delay)


def _retry_delay(policy: RetryPolicy, attempt: int, error: DownloadError) -> float | None:
    if isinstance(error, HTTPStatusError):
        return policy.delay(attempt, error.status, error.retry_after, random.random())
    if isinstance(error, TransferError | DownloadTimeout):
        return policy.delay(attempt, None, None, random.random())
    return None


class _SteppedBack(Exception):
    """A worker gave its place up after the host refused a connection; the others take
    its segment over. Never escapes the transfer."""


def first_failure(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first leaf of a task group's failures: one clear error per file."""
    first = group.exceptions[0]
    return first_failure(first) if isinstance(first, BaseExceptionGroup) else first


@dataclasses.dataclass
class Transfer:
    """Fetches ``info``'s bytes into ``part``; ``run`` returns the final size."""

    source: Source
    part: PartFile
    info: RemoteFile
    split: int
    min_segment_size: int
    policy: RetryPolicy
    slot: SlotFactory  # a place for an extra worker
    held: Slot  # the place the file holds already: its first worker's
    host: HostLimit
    on_retry: RetryHook
    on_progress: ProgressHook | None = None
    gaps: list[tuple[int, int]] | None = None  # a resumed file: only these are fetched
    throttle: Throttle | None = None  # a bandwidth limit shared with other transfers
    _segments: list[Segment] = dataclasses.field(default_factory=list)
    _claimed: set[Segment] = dataclasses.field(default_factory=set)
    _waiting: set[asyncio.Task[None]] = dataclasses.field(default_factory=set)
    _active: int = 0
    _workers: dict[Segment, asyncio.Task[None]] = dataclasses.field(default_factory=dict)
    _meters: dict[Segment, tuple[float, int]] = dataclasses.field(default_factory=dict)

    async def run(self, probe: Body) -> int:
        """Download everything; ``probe`` is the open body that starts at byte 0."""
        if self.info.ranged and self.info.size is not None:
            try:
                return await self._run_segments(probe)
            except RangeIgnored:
                self.info = dataclasses.replace(self.info, ranged=False)
                self.part.restart()  # a stream from byte 0 reuses nothing
            await self.held.take()  # the first worker may have given it back
            probe = await self._retrying(lambda: self._open(0, None), lambda: 0, self.held)
        return await self._run_stream(probe)

    async def _run_segments(self, probe: Body) -> int:
        assert self.info.size is not None
        if self.gaps is None:
            self._segments = plan(self.info.size, self.split, self.min_segment_size)
        else:
            self._segments = plan_gaps(self.gaps, self.split, self.min_segment_size)
        if not self._segments:
            await probe.aclose()
            return 0
        first = self._claim_next()
        assert first is not None
        if len(self._segments) == 1:  # a small file: no task group, no extra task
            await self._work(first, probe, self.held)
        else:
            watcher: asyncio.Task[None] | None = None
            try:
                async with asyncio.TaskGroup() as group:
                    group.create_task(self._work(first, probe, self.held))
                    for _ in range(min(self.split, len(self._segments)) - 1):
                        group.create_task(self._work_with_slot())
                    watcher = asyncio.create_task(self._watch(group))
            except BaseExceptionGroup as failures:
                raise first_failure(failures) from None
            finally:
                if watcher is not None:
                    watcher.cancel()
        missing = sum(segment.remaining for segment in self._segments)
        if missing:  # never commit a file with a hole, whatever went wrong above
            raise TransferError(f"{missing} bytes were left unfetched", url=self.source.url)
        return self.info.size

    async def _run_stream(self, probe: Body) -> int:
        """One stream from byte 0; an unknown size ends at the end of the body."""
        end = self.info.size if self.info.size is not None else _UNKNOWN_END
        segment = Segment(0, end)
        await self._fetch(segment, probe, self.held)
        if self.info.size is None:
            self.part.truncate(segment.pos)
        return segment.pos

    async def _work_with_slot(self) -> None:
        """An extra worker: waits for a connection slot, then takes whatever work is left."""
        task = asyncio.current_task()
        assert task is not None
        self._waiting.add(task)
        async with self.slot() as slot:
            self._waiting.discard(task)
            segment = self._claim_next()
            if segment is not None:
                await self._work(segment, None, slot)

    async def _work(self, segment: Segment, body: Body | None, slot: Slot) -> None:
        """Fetch ``segment``, then keep stealing work until none is worth a request."""
        self._active += 1
        try:
            current: Segment | None = segment
            while current is not None:
                task = asyncio.current_task()
                assert task is not None
                self._workers[current] = task
                try:
                    await self._fetch(current, body, slot)
                except _SteppedBack:
                    self._claimed.discard(current)  # left for the workers still active
                    return
                body = None
                self._claimed.discard(current)
                current = self._claim_next()
            self._stop_waiting()
        finally:
            self._active -= 1
            # Done with connections: the file's own place too, or it would sit idle while
            # its last segments wait for places (with a lowered host limit, forever).
            slot.give_back()

    async def _watch(self, group: asyncio.TaskGroup) -> None:
        """The lowest-speed rule, for when no idle worker is left to apply it: a connection
        is known to be far slower only after it has been measured a while, by when the
        others may have finished. Holds no connection slot; a new worker takes the rest."""
        while True:
            await asyncio.sleep(MEASURE_SECONDS / 4)
            thief = self._take_over_slow()
            if thief is not None:
                self._segments.append(thief)  # unclaimed: the next free worker takes it
                group.create_task(self._work_with_slot())

    def _stop_waiting(self) -> None:
        """No work is left for a new connection, and remaining work only shrinks: cancel
        the workers still waiting for a slot (they could otherwise wait on a slot that this
        file itself holds)."""
        for task in self._waiting:
            task.cancel()
        self._waiting.clear()

    def _claim_next(self) -> Segment | None:
        """An unclaimed unfinished segment, else the back half of the largest claimed one."""
        for segment in self._segments:
            if not segment.done and segment not in self._claimed:
                self._claimed.add(segment)
                return segment
        thief = steal([s for s in self._claimed if not s.done], self.min_segment_size)
        if thief is None:
            thief = self._take_over_slow()
        if thief is not None:
            self._segments.append(thief)
            self._claimed.add(thief)
        return thief

    def _take_over_slow(self) -> Segment | None:
        """Nothing left to split: a connection far slower than the file's median (measured
        over at least ``MEASURE_SECONDS``) gives its whole rest to the caller's, and its
        worker is cancelled (its connection closes; a retry would not be faster)."""
        now = time.monotonic()
        speeds = {
            segment: count / (now - began)
            for segment, (began, count) in self._meters.items()
            if now - began >= MEASURE_SECONDS
        }
        victim = slowest(speeds, self._claimed, SLOW_FACTOR)
        if victim is None:
            return None
        worker = self._workers.pop(victim, None)
        if worker is not None and worker is not asyncio.current_task():
            worker.cancel()
        return take_over(victim)

    async def _fetch(self, segment: Segment, body: Body | None, slot: Slot) -> None:
        """Fill ``segment``, reopening from where it stopped after each failure (lending
        ``slot`` to others while it waits to try again)."""
        opened = [body]

        async def attempt() -> None:
            current = opened[0] or await self._open_segment(segment)
            opened[0] = None
            try:
                await self._pump(current, segment)
            except DownloadError:
                self._restart_if_unranged(segment)
                raise
            finally:
                await current.aclose()

        await self._retrying(attempt, lambda: segment.pos, slot)

    def _request_end(self, segment: Segment) -> int | None:
        return None if segment.end == _UNKNOWN_END else segment.end

    def _restart_if_unranged(self, segment: Segment) -> None:
        """Without ranges a retry starts over: the bytes so far are written again."""
        if not self.info.ranged and segment.pos:
            self._advance(-segment.pos)
            segment.pos = 0

    async def _open_segment(self, segment: Segment) -> Body:
        """Open the rest of ``segment``. When the host refuses another connection, a worker
        with company steps back and leaves its segment to the others; the last one waits
        for a place under the lowered limit and retries."""
        try:
            return await self._open(segment.pos, self._request_end(segment))
        except ConnectionLimitError:
            self.host.lower()
            if self._active > 1:
                raise _SteppedBack from None
            await self.host.requeue()
            raise

    async def _open(self, start: int, end: int | None) -> Body:
        return await self.source.driver.open(self.source, start, end, self.info)

    async def _retrying(
        self, action: Callable[[], Awaitable[T]], progress: Callable[[], int], slot: Slot
    ) -> T:
        return await retrying(
            self.policy, action, progress=progress, on_retry=self.on_retry, slot=slot
        )

    async def _pump(self, body: Body, segment: Segment) -> None:
        """Copy the body into the part file until the segment's (shrinking) end.

        At most ~1 MiB a call: few syscalls, little memory, frequent progress.
        """
        chunk = FLUSH_BYTES if self.throttle is None else min(FLUSH_BYTES, self.throttle.chunk)
        while segment.pos < segment.end:
            limit = min(segment.end - segment.pos, chunk)
            moved = await body.copy_to(self.part, segment.pos, limit)
            if not moved:
                break
            began, count = self._meters.get(segment, (time.monotonic(), 0))
            self._meters[segment] = (began, count + moved)
            if self.throttle is not None:
                await self.throttle.spend(moved)
            # A thief may have taken the tail meanwhile: its bytes are the same, count once.
            counted = min(moved, segment.end - segment.pos)
            segment.pos += counted
            self._advance(counted)
        if segment.pos < segment.end and segment.end != _UNKNOWN_END:
            raise TransferError(
                f"connection closed early: {segment.end - segment.pos} bytes of "
                f"{segment.start}-{segment.end} missing",
                url=self.source.url,
            )

    def _advance(self, nbytes: int) -> None:
        if self.on_progress is not None:
            self.on_progress(nbytes)
