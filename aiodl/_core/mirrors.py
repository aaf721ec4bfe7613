"""The endpoints of one file (its URL and mirrors): which one a new connection should use,
whether a mirror serves the same file, and which bytes each one delivered.

Pure logic, no I/O and no clock of its own. A connection is bound to one endpoint; work
stealing and the lowest-speed rule already move bytes from slow connections to fast ones,
so an endpoint's share follows its speed. What is decided here is where a new connection
goes: to an endpoint not tried yet, else to the one whose connections are fastest, so a
slow mirror gets the few connections it deserves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .._credentials import mask_url
from .._disk.ranges import RangeSet
from .._protocols.driver import Endpoint, RemoteFile

MAX_RANGES_SHOWN = 8  # per endpoint, in an error message
# Retries for an endpoint while other endpoints are left: one, for a blip, then move on.
RETRIES_WITH_FALLBACK = 1


@dataclass(eq=False)
class Mirror:
    """One endpoint of a file as this download uses it.

    ``known`` is the file as this endpoint first described it (None until it answered);
    ``delivered`` the byte ranges it wrote; ``dropped`` why it is no longer used.
    ``seconds`` is connection time spent receiving ``moved`` bytes, summed over its
    connections, so ``moved / seconds`` is the speed of one of its connections.
    """

    endpoint: Endpoint
    known: RemoteFile | None = None
    delivered: RangeSet = field(default_factory=RangeSet)
    dropped: str | None = None
    workers: int = 0
    moved: int = 0
    seconds: float = 0.0

    @property
    def url(self) -> str:
        return self.endpoint.url

    @property
    def live(self) -> bool:
        return self.dropped is None

    def note(self, start: int, nbytes: int, seconds: float) -> None:
        """``nbytes`` at ``start`` arrived over one connection in ``seconds``."""
        self.delivered.add(start, start + nbytes)
        self.moved += nbytes
        self.seconds += seconds

    @property
    def speed(self) -> float | None:
        """Bytes per second of one connection; None before there is anything to go by."""
        return self.moved / self.seconds if self.seconds > 0 else None


def pick(mirrors: Sequence[Mirror]) -> Mirror | None:
    """Where a new connection goes: a live endpoint nobody measured yet (the one with the
    fewest connections, in the order given), else the one whose connections are fastest;
    None when every endpoint is dropped."""
    live = [mirror for mirror in mirrors if mirror.live]
    if not live:
        return None
    untried = [mirror for mirror in live if mirror.speed is None]
    if untried:
        return min(untried, key=lambda mirror: mirror.workers)
    return max(live, key=lambda mirror: mirror.speed or 0.0)


def disagreement(reference: RemoteFile, seen: RemoteFile, *, strict: bool) -> str | None:
    """Why a mirror's answer is not the reference's file, or None if it may be the same.

    The size must match. ``strict`` (no checksum will check the bytes at the end) also
    requires equal ETags when both servers send one; mirrors synchronised with their
    times kept (rsync -t) send the same ETag, servers with another version do not.
    """
    if reference.size != seen.size:
        return f"its size is {_size(seen.size)}, not {_size(reference.size)}"
    if strict and reference.etag and seen.etag and reference.etag != seen.etag:
        return f"its ETag is {seen.etag}, not {reference.etag}"
    return None


def provenance(mirrors: Sequence[Mirror]) -> str:
    """Which endpoint delivered which bytes, for an error a user can act on (exclude the
    mirror that sent bad ranges)."""
    parts = []
    for mirror in mirrors:
        ranges = [f"{start}-{end - 1}" for start, end in mirror.delivered]
        if len(ranges) > MAX_RANGES_SHOWN:
            ranges = [*ranges[:MAX_RANGES_SHOWN], f"... ({len(ranges)} ranges)"]
        parts.append(f"{mask_url(mirror.url)} sent {', '.join(ranges) or 'nothing'}")
    return "; ".join(parts)


def _size(size: int | None) -> str:
    return "unknown" if size is None else f"{size} bytes"
