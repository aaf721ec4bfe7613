"""The speed floor (``min_speed``): pure arithmetic on bytes and times, no I/O."""

from __future__ import annotations

from .._exceptions import TooSlow

MEASURE_SECONDS = 1.0  # the window min_speed is measured over


class SpeedFloor:
    """Measures one connection (to ``url``, masked) in windows of MEASURE_SECONDS; a
    window below ``speed`` ends it (TooSlow)."""

    def __init__(self, speed: float, now: float, url: str) -> None:
        self._speed = speed
        self._url = url
        self._began = now
        self._count = 0

    def check(self, nbytes: int, now: float) -> None:
        """``nbytes`` more arrived at ``now``."""
        self._count += nbytes
        elapsed = now - self._began
        if elapsed < MEASURE_SECONDS:
            return
        rate = self._count / elapsed
        if rate < self._speed:
            raise TooSlow(
                f"{rate:.0f} B/s for {elapsed:.1f} s, below min_speed ({self._speed:.0f} B/s)",
                url=self._url,
            )
        self._began, self._count = now, 0
