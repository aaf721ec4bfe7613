"""Segment planning: which byte ranges of a file go to which connection.

Pure logic, no I/O. A file of ``size`` bytes is cut into at most ``split`` contiguous
segments of at least ``min_size`` bytes. While downloading, a segment's ``end`` may shrink
when an idle connection steals the back half of it (aria2's method), so that the tail of
the file is not left to one slow connection.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(eq=False)
class Segment:
    """A byte range ``[start, end)`` of a file; ``pos`` is the next byte to fetch.

    Mutable on purpose: the downloading task advances ``pos`` and a stealer may lower
    ``end``; both only ever happen on the event loop, so no lock is needed.
    """

    start: int
    end: int
    pos: int = -1

    def __post_init__(self) -> None:
        if self.pos < 0:
            self.pos = self.start

    @property
    def remaining(self) -> int:
        return max(0, self.end - self.pos)

    @property
    def done(self) -> bool:
        return self.pos >= self.end


def plan(size: int, split: int, min_size: int, start: int = 0) -> list[Segment]:
    """Cut ``[start, start + size)`` into at most ``split`` near-equal segments of
    >= ``min_size`` bytes.

    A range smaller than two minimum segments is one segment; an empty one is none.
    """
    if size < 0 or split < 1 or min_size < 1 or start < 0:
        raise ValueError("size and start must be >= 0, split and min_size >= 1")
    if size == 0:
        return []
    count = max(1, min(split, size // min_size))
    base, extra = divmod(size, count)
    segments: list[Segment] = []
    for index in range(count):
        length = base + (1 if index < extra else 0)
        segments.append(Segment(start, start + length))
        start += length
    return segments


def plan_gaps(gaps: list[tuple[int, int]], split: int, min_size: int) -> list[Segment]:
    """Segments covering the missing ``gaps`` of a resumed file, in order.

    Each gap gets a share of the ``split`` connections in proportion to its size (at least
    one), and is cut like a whole file; more segments than connections simply wait to be
    claimed.
    """
    total = sum(end - start for start, end in gaps)
    segments: list[Segment] = []
    for start, end in gaps:
        share = max(1, round(split * (end - start) / total)) if total else 1
        segments += plan(end - start, share, min_size, start)
    return segments


def steal(segments: list[Segment], min_size: int) -> Segment | None:
    """Split the segment with the most bytes left; return the new back half, or None.

    The victim keeps ``[pos, mid)``; the returned segment covers ``[mid, end)``. Nothing is
    split when each half would be smaller than ``min_size``: a new connection costs more
    than it saves on a short tail.
    """
    if min_size < 1:
        raise ValueError("min_size must be >= 1")
    if not segments:
        return None
    victim = max(segments, key=lambda segment: segment.remaining)
    if victim.remaining < 2 * min_size:
        return None
    mid = victim.pos + victim.remaining // 2
    thief = Segment(mid, victim.end)
    victim.end = mid
    return thief


def slowest(
    speeds: Mapping[Segment, float], candidates: Iterable[Segment], factor: float
) -> Segment | None:
    """The candidate going ``factor`` times slower than the median of all ``speeds``, if
    any: aria2's lowest-speed rule, relative to the file's own connections. A slow link
    is then replaced instead of being left to finish the file's tail alone."""
    measured = [segment for segment in candidates if segment in speeds and not segment.done]
    if len(speeds) < 2 or not measured:
        return None
    victim = min(measured, key=lambda segment: speeds[segment])
    return victim if speeds[victim] * factor < statistics.median(speeds.values()) else None


def take_over(victim: Segment) -> Segment:
    """All of ``victim``'s remaining bytes, as a new segment; the victim ends where it is."""
    thief = Segment(victim.pos, victim.end)
    victim.end = victim.pos
    return thief
