"""What a folder listing holds, whoever listed it: entries (a name, its kind, and its size
and time when known) and ``Listing``, a memory-lean container of many.

Pure values, no I/O. A tree walk reads these, whether FTP listed the folder or, later,
an HTTP index page did.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import starmap
from typing import Literal, NamedTuple

Kind = Literal["file", "dir", "link", "other"]


class Entry(NamedTuple):
    """One name in a remote folder: its kind, and size and modification time if known.

    ``modified`` is seconds since the epoch (UTC), from MLSD only.
    """

    name: str
    kind: Kind
    size: int | None = None
    modified: float | None = None


_Row = tuple[str, Kind, int | None, float | None]


def _name(row: _Row) -> str:
    return row[0]


class Listing:
    """The entries of one folder, held as plain tuples and made Entry objects one at a
    time as they are read.

    The garbage collector stops tracking a plain tuple of plain values, never an object
    of a class: 200,000 entries held as Entry objects made each full collection walk them
    all, pauses of 0.2 s for every transfer on the loop.
    """

    FREED_AT_ONCE = 1000

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self._rows: list[_Row] = []
        self.extend(entries)

    @classmethod
    def of(cls, entries: Iterable[Entry]) -> Listing:
        return entries if isinstance(entries, Listing) else cls(entries)

    def extend(self, entries: Iterable[Entry]) -> None:
        self._rows.extend((e.name, e.kind, e.size, e.modified) for e in entries)

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[Entry]:
        return starmap(Entry, self._rows)

    def by_name(self) -> Iterator[Entry]:
        """The entries in name order, so a walk does not depend on the server's order."""
        rows = sorted(self._rows, key=_name)
        return starmap(Entry, rows)

    def clear(self) -> None:
        """Free the entries a piece at a time: one ``list.clear`` of a million holds the
        interpreter (and every other thread) until it is done."""
        while self._rows:
            del self._rows[-self.FREED_AT_ONCE :]
