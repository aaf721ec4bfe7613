"""Properties of the retry loop (aiodl._pacing.retrying): the count of tries, and its reset."""

from __future__ import annotations

import asyncio
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiodl._exceptions import (
    DownloadError,
    DownloadTimeout,
    HTTPStatusError,
    IntegrityError,
    TransferError,
)
from aiodl._pacing.retry import RetryPolicy
from aiodl._pacing.retrying import retrying

Outcome = Literal["ok", "short", "stall", "503", "404", "integrity", "bug"]
outcomes = st.lists(
    st.tuples(
        st.sampled_from(["short", "stall", "503", "404", "integrity", "bug", "ok"]),
        st.booleans(),  # whether the try moved the file forward before it failed
    ),
    max_size=25,
)


def error_for(kind: Outcome) -> BaseException:
    return {
        "short": TransferError("body ended early"),
        "stall": DownloadTimeout("no progress"),
        "503": HTTPStatusError("HTTP 503", status=503),
        "404": HTTPStatusError("HTTP 404", status=404),
        "integrity": IntegrityError("checksum"),
        "bug": RuntimeError("not a download error"),
    }[kind]


def expected(script: list[tuple[Outcome, bool]], retries: int) -> tuple[int, Outcome]:
    """The model: how many tries run, and how the loop ends ("ok", or the error kind)."""
    attempt = 0
    for tries, (kind, progressed) in enumerate(script, start=1):
        if kind == "ok":
            return tries, "ok"
        if progressed:
            attempt = 0
        if kind in ("404", "integrity", "bug") or attempt >= retries:
            return tries, kind
        attempt += 1
    return len(script) + 1, "ok"  # the script ran out: the next try succeeds


@given(outcomes, st.integers(0, 6))
def test_tries_follow_the_policy_and_progress_resets_the_count(
    script: list[tuple[Outcome, bool]], retries: int
) -> None:
    """Transport failures and 503 are retried until ``retries`` tries in a row made no
    progress; a try that moved ``progress`` starts the count again; 404, integrity
    errors and non-download exceptions end the loop at once."""
    policy = RetryPolicy(retries=retries, base=1e-6, cap=1e-6)
    done = {"bytes": 0}
    calls: list[int] = []
    retried: list[float] = []

    async def action() -> str:
        calls.append(1)
        if len(calls) > len(script):
            return "ok"
        kind, progressed = script[len(calls) - 1]
        if progressed:
            done["bytes"] += 1
        if kind == "ok":
            return "ok"
        raise error_for(kind)

    async def run() -> str:
        return await retrying(
            policy,
            action,
            progress=lambda: done["bytes"],
            on_retry=lambda error, delay: retried.append(delay),
        )

    tries, end = expected(script, retries)
    if end == "ok":
        assert asyncio.run(run()) == "ok"
    else:
        with pytest.raises(type(error_for(end))) as raised:
            asyncio.run(run())
        assert isinstance(raised.value, DownloadError) == (end != "bug")
    assert len(calls) == tries
    assert len(retried) == tries - 1
    assert all(0 < delay <= 1e-6 for delay in retried)
