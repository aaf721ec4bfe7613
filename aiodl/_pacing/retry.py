"""Retry decisions: whether to try a failed request again, and after how long.

Pure logic, no I/O and no clock of its own: the caller passes the current time and a
random number, so every decision is reproducible in tests.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# 4xx are the client's fault and do not change on retry, except these three.
_RETRYABLE_CLIENT_STATUS = frozenset({408, 425, 429})
# 501 Not Implemented and 505 HTTP Version Not Supported are permanent answers.
_PERMANENT_SERVER_STATUS = frozenset({501, 505})


def is_retryable_status(status: int) -> bool:
    """True for statuses that may succeed on a later try (408/425/429 and most 5xx)."""
    if status in _RETRYABLE_CLIENT_STATUS:
        return True
    return status >= 500 and status not in _PERMANENT_SERVER_STATUS


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with jitter, bounded by ``retries`` further attempts.

    ``max_wait`` bounds how long a server's ``Retry-After`` may hold one file: a server
    asking for more is answered by giving up, so a batch never hangs for hours.
    """

    retries: int = 5
    base: float = 0.5
    cap: float = 30.0
    max_wait: float = 300.0

    def at_most(self, retries: int) -> RetryPolicy:
        """This policy with no more than ``retries`` further tries: for a source that has
        others to fall back on, where waiting on it costs more than moving on."""
        return replace(self, retries=min(self.retries, retries))

    def backoff(self, attempt: int, rand: float) -> float:
        """Delay before retry number ``attempt`` (0-based), ``rand`` uniform in [0, 1).

        "Equal jitter": at least half the exponential step, so retries never bunch up at 0,
        and at most the full step, so many clients spread out.
        """
        step = min(self.cap, self.base * 2.0 ** min(attempt, 64))
        return step / 2 + step / 2 * rand

    def delay(
        self, attempt: int, status: int | None, retry_after: float | None, rand: float
    ) -> float | None:
        """Seconds to wait before the next try, or None to give up.

        ``attempt`` counts failed tries so far without progress (0-based); ``status`` is the
        HTTP status or None for a transport failure (reset, timeout, short body), which is
        always worth another try.
        """
        if attempt >= self.retries:
            return None
        if status is not None and not is_retryable_status(status):
            return None
        wait = self.backoff(attempt, rand)
        if retry_after is not None:
            if retry_after > self.max_wait:
                return None
            wait = max(wait, retry_after)
        return wait
