"""The shrinkable per-host limit (aiodl._pacing.hosts): asyncio only, no sockets, no sleeps."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiodl._exceptions import ConnectionLimitError, HTTPStatusError, TransferError
from aiodl._pacing.hosts import HostLimit, limited

pytestmark = pytest.mark.anyio


async def settle() -> None:
    """Let every ready task run until all are blocked again."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_never_more_holders_than_the_limit() -> None:
    limit = HostLimit(3)
    release = asyncio.Event()
    most = 0

    async def hold() -> None:
        nonlocal most
        async with limit.hold():
            most = max(most, limit.in_use)
            await release.wait()

    tasks = [asyncio.create_task(hold()) for _ in range(10)]
    await settle()
    assert limit.in_use == 3
    release.set()
    await asyncio.gather(*tasks)
    assert most == 3
    assert limit.in_use == 0


async def test_lowered_limit_lets_holders_finish_and_admits_fewer() -> None:
    limit = HostLimit(4)
    gates = [asyncio.Event() for _ in range(6)]
    active: list[int] = []
    most_after_lowering = 0

    async def hold(i: int) -> None:
        nonlocal most_after_lowering
        async with limit.hold():
            active.append(i)
            if limit.limit == 2:
                most_after_lowering = max(most_after_lowering, limit.in_use)
            await gates[i].wait()

    tasks = [asyncio.create_task(hold(i)) for i in range(6)]
    await settle()
    assert sorted(active) == [0, 1, 2, 3]
    limit.lower()
    limit.lower()
    gates[0].set()
    await settle()
    assert sorted(active) == [0, 1, 2, 3]  # 3 still held > 2: nobody new gets in
    gates[1].set()
    gates[2].set()
    await settle()
    assert sorted(active) == [0, 1, 2, 3, 4]  # 1 held, so one more is admitted
    for gate in gates:
        gate.set()
    await asyncio.gather(*tasks)
    assert most_after_lowering <= 2
    assert limit.in_use == 0


async def test_cancelled_waiter_does_not_leak_or_block() -> None:
    limit = HostLimit(1)
    await limit.acquire()
    waiter = asyncio.create_task(limit.acquire())
    second = asyncio.create_task(limit.acquire())
    await settle()
    limit.release()  # wakes the first waiter...
    waiter.cancel()  # ...which is cancelled before it runs: the turn passes on
    await settle()
    assert second.done()
    assert limit.in_use == 1


async def test_waiter_cancelled_while_waiting_leaves_no_trace() -> None:
    limit = HostLimit(1)
    await limit.acquire()
    waiter = asyncio.create_task(limit.acquire())
    await settle()
    waiter.cancel()
    await settle()
    limit.release()
    newcomer = asyncio.create_task(limit.acquire())
    await settle()
    assert newcomer.done()
    assert limit.in_use == 1


async def test_limited_lowers_and_requeues_then_reraises() -> None:
    limit = HostLimit(3)
    await limit.acquire()

    async def refused() -> None:
        raise ConnectionLimitError("421 too many")

    with pytest.raises(ConnectionLimitError):
        await limited(limit, refused)
    assert limit.limit == 2
    assert limit.in_use == 1  # the caller still holds its place


async def test_limited_leaves_errors_that_say_nothing_of_load_alone() -> None:
    limit = HostLimit(4)
    await limit.acquire()

    async def short() -> None:
        raise TransferError("the body ended early")

    with pytest.raises(TransferError):
        await limited(limit, short)
    assert limit.limit == 4


async def test_limited_halves_the_limit_on_a_reset() -> None:
    limit = HostLimit(4)

    async def reset() -> None:
        try:
            raise ConnectionResetError("peer reset")
        except OSError as error:
            raise TransferError("reset") from error

    with pytest.raises(TransferError):
        await limited(limit, reset)
    assert limit.limit == 2


async def test_a_429_with_retry_after_holds_back_every_new_connection() -> None:
    limit = HostLimit(4)
    loop = asyncio.get_running_loop()

    async def overloaded() -> None:
        raise HTTPStatusError("429 Too Many Requests", status=429, retry_after=30.0)

    with pytest.raises(HTTPStatusError):
        await limited(limit, overloaded)
    assert limit.limit == 2
    assert limit.policy.not_before >= loop.time() + 29
    newcomer = asyncio.create_task(limit.acquire())
    await settle()
    assert not newcomer.done()  # 30 s to go: nobody connects meanwhile
    assert limit.in_use == 0
    newcomer.cancel()


async def test_successes_grow_a_lowered_limit_back_and_wake_waiters() -> None:
    limit = HostLimit(2)
    limit.lower()
    await limit.acquire()
    waiter = asyncio.create_task(limit.acquire())
    await settle()
    assert not waiter.done()

    async def fine() -> None:
        return None

    await limited(limit, fine)  # limit 1 + 1/1 = 2: one more may go
    await settle()
    assert waiter.done()
    assert limit.in_use == 2


async def test_requeue_cancelled_keeps_the_count_right() -> None:
    limit = HostLimit(1)

    async def holder() -> None:
        async with limit.hold():
            await limit.requeue()

    blocker = asyncio.Event()

    async def other() -> None:
        async with limit.hold():
            await blocker.wait()

    first = asyncio.create_task(holder())
    await settle()  # first finished its requeue (nobody waited)
    assert first.done()
    second = asyncio.create_task(other())
    await settle()
    third = asyncio.create_task(holder())
    await settle()
    third.cancel()
    await settle()
    blocker.set()
    await asyncio.gather(second, return_exceptions=True)
    assert limit.in_use == 0


@given(st.integers(1, 50), st.integers(0, 100))
def test_lower_never_goes_below_one(start: int, times: int) -> None:
    limit = HostLimit(start)
    for _ in range(times):
        limit.lower()
    assert limit.limit == max(1, start - times)
