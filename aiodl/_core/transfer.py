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
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import TypeVar

from .._credentials import mask_url
from .._disk.partfile import PartFile
from .._disk.ranges import RangeSet
from .._exceptions import (
    ConnectionLimitError,
    DownloadError,
    LocalFileError,
    MirrorRejected,
    TransferError,
)
from .._pacing.bucket import Throttle
from .._pacing.hosts import Hosts, Slot, limited
from .._pacing.retry import RetryPolicy
from .._pacing.retrying import ProgressHook, RetryHook, first_failure, retrying
from .._protocols.driver import Body, RangeIgnored, RemoteFile
from .mirrors import RETRIES_WITH_FALLBACK, Mirror, disagreement, pick
from .planner import Segment, plan, plan_gaps, slowest, steal, take_over
from .pump import UNKNOWN_END, pump

T = TypeVar("T")
# The lowest-speed rule: a connection this many times slower than the file's median,
# measured over this long, is replaced when nothing else is left to split.
SLOW_FACTOR = 4.0
MEASURE_SECONDS = 1.0
log = logging.getLogger("aiodl")


class _Dropped(Exception):
    """A worker's endpoint was dropped for this file; its segment goes to the others.
    Never escapes the transfer."""


class _SteppedBack(Exception):
    """A worker gave its place up after the host refused a connection; the others take
    its segment over. Never escapes the transfer."""


@dataclasses.dataclass(frozen=True)
class TransferOptions:
    """How one file's bytes may be fetched, fixed for the file before its transfer."""

    split: int  # connections at most
    min_segment_size: int  # no segment is cut smaller
    policy: RetryPolicy
    strict: bool = True  # no checksum at the end: mirrors must match ETags too
    cap: tuple[int, str] | None = None  # unknown size: at most this many bytes (and why)
    min_speed: float | None = None  # a connection below this for a second is replaced
    throttle: Throttle | None = None  # a bandwidth limit shared with other transfers


@dataclasses.dataclass
class Transfer:
    """Fetches ``info``'s bytes into ``part`` from ``mirrors``; ``run`` returns the size.

    ``mirrors[0]`` answered the probe and is the reference: the others must serve the same
    file. A mirror that keeps failing while others are left is dropped for this file and
    its segments go to the others; the last one gets every retry. ``held`` is the place
    the file holds already (its first worker's); extra workers take places of ``hosts``.
    """

    options: TransferOptions
    mirrors: list[Mirror]
    part: PartFile
    info: RemoteFile
    held: Slot
    hosts: Hosts
    on_retry: RetryHook
    on_progress: ProgressHook | None = None
    gaps: list[tuple[int, int]] | None = None  # a resumed file: only these are fetched
    _segments: list[Segment] = dataclasses.field(default_factory=list)
    _claimed: set[Segment] = dataclasses.field(default_factory=set)
    _waiting: set[asyncio.Task[None]] = dataclasses.field(default_factory=set)
    _active: int = 0
    _workers: dict[Segment, asyncio.Task[None]] = dataclasses.field(default_factory=dict)
    _meters: dict[Segment, tuple[float, int]] = dataclasses.field(default_factory=dict)
    _group: asyncio.TaskGroup | None = None
    _contacts: dict[Mirror, asyncio.Lock] = dataclasses.field(default_factory=dict)
    _reported: int = 0  # bytes told to on_progress, net

    @property
    def reference(self) -> Mirror:
        return self.mirrors[0]

    async def run(self, probe: Body) -> int:
        """Download everything; ``probe`` is the open body that starts at byte 0."""
        if self.info.ranged and self.info.size is not None:
            try:
                return await self._run_segments(probe)
            except RangeIgnored:
                self.info = dataclasses.replace(self.info, ranged=False)
                self.part.restart()  # a stream from byte 0 reuses nothing
                self._advance(-self._reported)  # its bytes are counted again as they come
                for mirror in self.mirrors:
                    mirror.delivered = RangeSet()
                self.reference.known = self.info  # asked for without a range from now on
            await self.held.take()  # the first worker may have given it back
            probe = await self._retrying(
                lambda: self._open(self.reference, 0, None), lambda: 0, self.held
            )
        return await self._run_stream(probe)

    async def _run_segments(self, probe: Body) -> int:
        assert self.info.size is not None
        if self.gaps is None:
            self._segments = plan(self.info.size, self.options.split, self.options.min_segment_size)
        else:
            self._segments = plan_gaps(self.gaps, self.options.split, self.options.min_segment_size)
        if not self._segments:
            await probe.aclose()
            return 0
        first = self._claim_next()
        assert first is not None
        if len(self._segments) == 1 and len(self.mirrors) == 1:  # no task group, no task
            await self._work(first, probe, self.held, self.reference)
        else:
            watcher: asyncio.Task[None] | None = None
            try:
                async with asyncio.TaskGroup() as group:
                    self._group = group
                    self._spawn(self.reference, self._work(first, probe, self.held, self.reference))
                    for _ in range(min(self.options.split, len(self._segments)) - 1):
                        self._add_worker()
                    watcher = asyncio.create_task(self._watch())
            except BaseExceptionGroup as failures:
                raise first_failure(failures) from None
            finally:
                if watcher is not None:
                    watcher.cancel()
        missing = sum(segment.remaining for segment in self._segments)
        if missing:  # never commit a file with a hole, whatever went wrong above
            message = f"{missing} bytes were left unfetched"
            raise TransferError(message, url=mask_url(self.reference.url))
        return self.info.size

    async def _run_stream(self, probe: Body) -> int:
        """One stream from byte 0; an unknown size ends at the end of the body."""
        end = self.info.size if self.info.size is not None else UNKNOWN_END
        segment = Segment(0, end)
        await self._fetch(segment, probe, self.held, self.reference)
        if self.info.size is None:
            self.part.truncate(segment.pos)
        return segment.pos

    def _add_worker(self) -> None:
        """One more worker, on the endpoint a new connection should use (if any is left)."""
        mirror = pick(self.mirrors)
        if mirror is not None:
            self._spawn(mirror, self._work_with_slot(mirror))

    def _spawn(self, mirror: Mirror, work: Coroutine[None, None, None]) -> None:
        """Run a worker of ``mirror``, counted from now on (so the next worker planned
        right after this one goes to another endpoint) until it ends."""
        assert self._group is not None
        mirror.workers += 1

        async def counted() -> None:
            try:
                await work
            finally:
                mirror.workers -= 1

        self._group.create_task(counted())

    async def _work_with_slot(self, mirror: Mirror) -> None:
        """An extra worker: waits for a connection slot, then takes whatever work is left."""
        task = asyncio.current_task()
        assert task is not None
        self._waiting.add(task)
        async with self.hosts.slot(mirror.url) as slot:
            self._waiting.discard(task)
            segment = self._claim_next()
            if segment is not None:
                await self._work(segment, None, slot, mirror)

    async def _work(self, segment: Segment, body: Body | None, slot: Slot, mirror: Mirror) -> None:
        """Fetch ``segment``, then keep stealing work until none is worth a request."""
        self._active += 1
        try:
            current: Segment | None = segment
            while current is not None and mirror.live:
                task = asyncio.current_task()
                assert task is not None
                self._workers[current] = task
                try:
                    await self._fetch(current, body, slot, mirror)
                except (_SteppedBack, _Dropped):
                    self._claimed.discard(current)  # left for the workers still active
                    break
                body = None
                self._claimed.discard(current)
                current = self._claim_next()
            else:
                if mirror.live:
                    self._stop_waiting()
        finally:
            self._active -= 1
            # Done with connections: the file's own place too, or it would sit idle while
            # its last segments wait for places (with a lowered host limit, forever).
            slot.give_back()
        if not mirror.live:
            self._add_worker()  # its work goes on from another endpoint

    async def _watch(self) -> None:
        """The lowest-speed rule, for when no idle worker is left to apply it: a connection
        is known to be far slower only after it has been measured a while, by when the
        others may have finished. Holds no connection slot; a new worker takes the rest."""
        while True:
            await asyncio.sleep(MEASURE_SECONDS / 4)
            thief = self._take_over_slow()
            if thief is not None:
                self._segments.append(thief)  # unclaimed: the next free worker takes it
                self._add_worker()

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
        thief = steal([s for s in self._claimed if not s.done], self.options.min_segment_size)
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

    async def _fetch(self, segment: Segment, body: Body | None, slot: Slot, mirror: Mirror) -> None:
        """Fill ``segment`` from ``mirror``, reopening from where it stopped after each
        failure (lending ``slot`` to others while it waits to try again). While other
        endpoints are left, an endpoint gets one retry, then it is dropped (``_Dropped``)."""
        opened = [body]

        async def attempt() -> None:
            current = opened[0] or await self._open_segment(segment, slot, mirror)
            opened[0] = None
            try:
                await self._pump(current, segment, mirror)
            except DownloadError:
                self._restart_if_unranged(segment)
                raise
            finally:
                await current.aclose()

        while True:
            alone = not self._others_live(mirror)
            policy = (
                self.options.policy if alone else self.options.policy.at_most(RETRIES_WITH_FALLBACK)
            )
            try:
                return await self._retrying(attempt, lambda: segment.pos, slot, policy)
            except LocalFileError:
                raise
            except DownloadError as error:
                if alone or (mirror is self.reference and not self.info.ranged):
                    raise
                if not mirror.live or self._others_live(mirror):
                    if mirror.live:
                        log.warning("dropped %s for this file: %s", mask_url(mirror.url), error)
                        mirror.dropped = str(error)
                    raise _Dropped from error
                # the others were dropped meanwhile: this one gets every retry now

    def _others_live(self, mirror: Mirror) -> bool:
        return any(other.live for other in self.mirrors if other is not mirror)

    def _request_end(self, segment: Segment) -> int | None:
        return None if segment.end == UNKNOWN_END else segment.end

    def _restart_if_unranged(self, segment: Segment) -> None:
        """Without ranges a retry starts over: the bytes so far are written again."""
        if not self.info.ranged and segment.pos:
            self._advance(-segment.pos)
            segment.pos = 0

    async def _open_segment(self, segment: Segment, slot: Slot, mirror: Mirror) -> Body:
        """Open the rest of ``segment`` under the host's policy. When the host refuses
        another connection, a worker with company steps back and leaves its segment to the
        others; the last one waits for a place under the lowered limit and retries."""
        try:
            return await limited(
                self.hosts.host(mirror.url),
                lambda: self._open(mirror, segment.pos, self._request_end(segment)),
                slot=slot,
                give_way=lambda: self._active > 1,
            )
        except ConnectionLimitError:
            if self._active > 1:
                raise _SteppedBack from None
            raise

    async def _open(self, mirror: Mirror, start: int, end: int | None) -> Body:
        """A request for ``[start, end)``. A mirror is asked by one connection first; the
        others wait for its verdict."""
        if mirror.known is None:
            async with self._contacts.setdefault(mirror, asyncio.Lock()):
                if mirror.known is None and mirror.live:
                    return await self._first_contact(mirror, start, end)
        if not mirror.live:
            raise MirrorRejected(f"{mirror.dropped}", url=mask_url(mirror.url))
        return await mirror.endpoint.driver.open(mirror.endpoint, start, end, mirror.known)

    async def _first_contact(self, mirror: Mirror, start: int, end: int | None) -> Body:
        """A mirror's first answer, compared with the reference's file: a mirror that is
        not the same file or serves no ranges is rejected at once (never retried)."""
        url = mask_url(mirror.url)
        try:
            body = await mirror.endpoint.driver.open(mirror.endpoint, start, end, None)
        except RangeIgnored:
            mirror.dropped = "it does not serve byte ranges"
            log.warning("not using %s for this file: %s", url, mirror.dropped)
            raise MirrorRejected(mirror.dropped, url=url) from None
        why = disagreement(self.info, body.info, strict=self.options.strict)
        if why is not None:
            await body.aclose()
            mirror.dropped = f"not the same file: {why}"
            log.warning("not using %s for this file: %s", url, mirror.dropped)
            raise MirrorRejected(mirror.dropped, url=url)
        mirror.known = body.info
        return body

    async def _retrying(
        self,
        action: Callable[[], Awaitable[T]],
        progress: Callable[[], int],
        slot: Slot,
        policy: RetryPolicy | None = None,
    ) -> T:
        return await retrying(
            policy or self.options.policy,
            action,
            progress=progress,
            on_retry=self.on_retry,
            slot=slot,
        )

    async def _pump(self, body: Body, segment: Segment, mirror: Mirror) -> None:
        """Copy ``body`` into the segment, measuring its connection as it goes."""
        mark = time.monotonic()

        def moved(nbytes: int, counted: int, now: float) -> None:
            nonlocal mark
            began, count = self._meters.get(segment, (now, 0))
            self._meters[segment] = (began, count + nbytes)
            mirror.note(segment.pos, counted, now - mark)
            mark = now
            self._advance(counted)

        host_throttle = self.hosts.host(mirror.url).throttle
        throttles = [t for t in (self.options.throttle, host_throttle) if t]
        await pump(
            body,
            self.part,
            segment,
            mirror.url,
            throttles=throttles,
            min_speed=self.options.min_speed,
            cap=self.options.cap,
            moved=moved,
        )

    def _advance(self, nbytes: int) -> None:
        self._reported += nbytes
        if self.on_progress is not None:
            self.on_progress(nbytes)
