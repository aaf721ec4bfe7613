"""What one host allows right now: how many connections, and not before when.

Pure logic, no I/O and no clock of its own (the caller passes the time). Shared by every
file of a run that talks to the host:

- **AIMD**: the limit starts at ``per_host``; an overload signal (429 or 503, a reset
  connection) halves it, a "421 too many connections" takes one off (the host said
  exactly that one was too many), and each success adds ``1 / limit``, so it grows by
  one per ``limit`` successes. It stays within ``[1, ceiling]``.
- **Retry-After**: a 429/503 that names a wait holds back every new request to the host
  until then, not only the one that got it; a wait beyond ``max_wait`` is not taken
  (that file fails instead: a "come back tomorrow" must not park the whole run).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

OVERLOAD_STATUS = frozenset({429, 503})


@dataclass
class HostPolicy:
    ceiling: int
    max_wait: float = math.inf  # a longer Retry-After fails its file, it does not park the host
    limit: float = field(init=False)
    not_before: float = 0.0

    def __post_init__(self) -> None:
        if self.ceiling < 1:
            raise ValueError("ceiling must be >= 1")
        self.limit = float(self.ceiling)

    @property
    def allowed(self) -> int:
        """Connections allowed at once now."""
        return max(1, min(self.ceiling, int(self.limit)))

    def wait(self, now: float) -> float:
        """Seconds before a new request may be sent."""
        return max(0.0, self.not_before - now)

    def on_success(self) -> None:
        self.limit = min(float(self.ceiling), self.limit + 1 / self.limit)

    def on_overload(self, now: float, retry_after: float | None) -> None:
        self.limit = max(1.0, self.limit / 2)
        if retry_after is not None and 0 < retry_after <= self.max_wait:
            self.not_before = max(self.not_before, now + retry_after)

    def on_refused(self) -> None:
        self.limit = max(1.0, float(self.allowed) - 1)
