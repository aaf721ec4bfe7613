"""Copying one response body into the part file, a segment at a time.

At most ~1 MiB a call (a throttle's share when one holds the run back): few syscalls,
little memory, frequent progress. A body of unknown length is stopped one byte past its
cap (the declared size or ``max_size``): enough to know it is too large, never enough to
fill the disk. The loop gets its turn every few MiB or milliseconds (``Turns``), whatever
the protocol. The speed floor (``min_speed``) is measured here too, unless a throttle
holds the connection back on purpose.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence

from .._credentials import mask_url
from .._disk.partfile import PartFile
from .._exceptions import IntegrityError, TransferError
from .._network.turns import Turns
from .._pacing.bucket import Throttle
from .._pacing.speed import SpeedFloor
from .._protocols.driver import Body
from .planner import Segment

FLUSH_BYTES = 1 << 20
UNKNOWN_END = sys.maxsize  # the end of a segment of a body whose length is not known

Moved = Callable[[int, int, float], None]
"""``moved(nbytes, counted, now)``: ``nbytes`` arrived, ``counted`` of them were the
segment's (a thief may have taken its tail meanwhile), at ``now``."""


async def pump(
    body: Body,
    part: PartFile,
    segment: Segment,
    url: str,
    *,
    throttles: Sequence[Throttle],
    min_speed: float | None,
    cap: tuple[int, str] | None,
    moved: Moved,
) -> None:
    """Copy ``body`` (from ``url``) into ``part`` until the segment's (shrinking) end; a
    body that ends first is a TransferError."""
    chunk = min([FLUSH_BYTES, *(throttle.chunk for throttle in throttles)])
    floor = (
        None
        if throttles or not min_speed
        else SpeedFloor(min_speed, time.monotonic(), mask_url(url))
    )
    turns, got = Turns(), 0  # data always ready never makes a read wait: yield now and then
    while segment.pos < segment.end:
        limit = min(segment.end - segment.pos, chunk)
        if cap is not None:  # one byte past the cap is enough to know
            limit = min(limit, cap[0] + 1 - segment.pos)
            if limit <= 0:
                raise IntegrityError(f"the body is larger than {cap[1]}")
        await turns.give(got)  # before the copy: a spent pass of the loop waits first
        got = await body.copy_to(part, segment.pos, limit)
        if not got:
            break
        now = time.monotonic()
        for throttle in throttles:
            await throttle.spend(got)
        counted = min(got, segment.end - segment.pos)  # a thief's bytes count once
        moved(got, counted, now)
        segment.pos += counted
        if floor is not None:
            floor.check(got, now)
    if segment.pos < segment.end and segment.end != UNKNOWN_END:
        raise TransferError(
            f"connection closed early: {segment.end - segment.pos} bytes of "
            f"{segment.start}-{segment.end} missing",
            url=mask_url(url),
        )
