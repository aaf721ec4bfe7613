"""The retry loop: runs a request until it succeeds or the retry policy gives up.

The decisions (whether, and how long to wait) are the pure ``RetryPolicy``'s; this adds
the sleeping, and lends the caller's connection slot to others while it sleeps.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .._exceptions import (
    ConnectError,
    DownloadError,
    DownloadTimeout,
    HTTPStatusError,
    TooSlow,
    TransferError,
)
from .hosts import HostLimit, Slot, limited
from .retry import RetryPolicy

T = TypeVar("T")
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
            if progress() != mark and not isinstance(error, TooSlow):
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
        if isinstance(error, ConnectError) and error.retries is not None:
            policy = policy.at_most(error.retries)  # tries that cannot mend it are not made
        return policy.delay(attempt, None, None, random.random())
    return None


def first_failure(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first leaf of a task group's failures: one clear error per file."""
    first = group.exceptions[0]
    return first_failure(first) if isinstance(first, BaseExceptionGroup) else first


async def retried_under_limit(
    policy: RetryPolicy,
    host: HostLimit,
    action: Callable[[], Awaitable[T]],
    *,
    slot: Slot,
    on_retry: RetryHook,
) -> T:
    """One request (``action``) under ``host``'s limit, retried by ``policy``; the place
    ``slot`` holds is lent to others while it waits to try again. For requests that
    move no file bytes (a probe, a listing): a retry starts them over."""
    return await retrying(
        policy,
        lambda: limited(host, action, slot=slot),
        progress=lambda: 0,
        on_retry=on_retry,
        slot=slot,
    )
