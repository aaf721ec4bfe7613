"""Sets of byte ranges: which parts of a file are written, and which are still missing.

Pure logic, no I/O. A ``RangeSet`` is a sorted list of disjoint, non-adjacent half-open
ranges ``[start, end)``; adding a range merges it with its neighbours, so a file written
by eight segments is described by at most eight ranges however many writes it took. The
journal stores these (as JSON) and a resumed download fetches their ``gaps``.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Iterator

Range = tuple[int, int]


class RangeSet:
    """Disjoint byte ranges, merged as they are added."""

    def __init__(self, ranges: Iterable[Range] = ()) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        for start, end in ranges:
            self.add(start, end)

    def add(self, start: int, end: int) -> None:
        """Mark ``[start, end)`` as present; empty or inverted ranges change nothing."""
        if end <= start:
            return
        # Every range that overlaps or touches [start, end) is merged into it.
        first = bisect.bisect_left(self._ends, start)
        last = bisect.bisect_right(self._starts, end)
        if first < last:
            start = min(start, self._starts[first])
            end = max(end, self._ends[last - 1])
        self._starts[first:last] = [start]
        self._ends[first:last] = [end]

    def __iter__(self) -> Iterator[Range]:
        return iter(zip(self._starts, self._ends, strict=True))

    def __len__(self) -> int:
        return len(self._starts)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RangeSet) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"RangeSet({list(self)!r})"

    def copy(self) -> RangeSet:
        clone = RangeSet()
        clone._starts, clone._ends = list(self._starts), list(self._ends)
        return clone

    @property
    def total(self) -> int:
        """How many bytes the ranges cover."""
        return sum(end - start for start, end in self)

    def prefix(self) -> int:
        """How many bytes from 0 on are present without a hole."""
        return self._ends[0] if self._starts and self._starts[0] == 0 else 0

    def gaps(self, size: int) -> list[Range]:
        """The missing ranges of a file of ``size`` bytes, in order."""
        missing, cursor = [], 0
        for start, end in self:
            if start >= size:
                break
            if start > cursor:
                missing.append((cursor, start))
            cursor = max(cursor, end)
        if cursor < size:
            missing.append((cursor, size))
        return missing

    def to_json(self) -> str:
        return json.dumps(list(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> RangeSet:
        """Parse what ``to_json`` wrote; anything else raises ValueError."""
        try:
            value = json.loads(text)
        except RecursionError:  # "[[[[..." a hundred thousand deep
            raise ValueError(f"not a list of byte ranges: {text[:80]!r}") from None
        if not isinstance(value, list) or not all(_is_range(item) for item in value):
            raise ValueError(f"not a list of byte ranges: {text[:80]!r}")
        return cls((start, end) for start, end in value)


def _is_range(item: object) -> bool:
    return (
        isinstance(item, list)
        and len(item) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in item)
    )
