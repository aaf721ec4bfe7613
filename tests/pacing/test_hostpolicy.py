"""The per-host policy (aiodl._pacing.hostpolicy): pure, so driven by generated event sequences."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiodl._pacing.hostpolicy import HostPolicy

# One event: ("ok",), ("overload", seconds later, Retry-After or None), ("refused",).
EVENTS = st.lists(
    st.one_of(
        st.just(("ok", 0.0, None)),
        st.tuples(
            st.just("overload"),
            st.floats(0, 100),
            st.one_of(st.none(), st.floats(0, 3600)),
        ),
        st.just(("refused", 0.0, None)),
    ),
    max_size=200,
)


Event = tuple[str, float, float | None]


def apply(policy: HostPolicy, event: Event, now: float) -> float:
    """Apply one event ``later`` seconds after ``now``; the time it happened."""
    kind, later, retry_after = event
    now += later
    if kind == "ok":
        policy.on_success()
    elif kind == "overload":
        policy.on_overload(now, retry_after)
    else:
        policy.on_refused()
    return now


@given(st.integers(1, 64), EVENTS)
def test_the_limit_stays_within_one_and_per_host(ceiling: int, events: list[Event]) -> None:
    policy = HostPolicy(ceiling)
    now = 0.0
    for event in events:
        now = apply(policy, event, now)
        assert 1 <= policy.allowed <= ceiling
        assert 1.0 <= policy.limit <= ceiling


@given(st.integers(1, 64), EVENTS, st.floats(0.001, 3600), EVENTS, st.floats(0, 1))
def test_never_sends_before_a_retry_after_deadline(
    ceiling: int, before: list[Event], retry_after: float, after: list[Event], probe: float
) -> None:
    policy = HostPolicy(ceiling)
    now = 0.0
    for event in before:
        now = apply(policy, event, now)
    policy.on_overload(now, retry_after)
    deadline = now + retry_after
    for event in after:  # whatever follows (successes too) can only keep or push the pause
        apply(policy, event, now)
    at = now + probe * retry_after  # any moment between the 429 and its deadline
    if at < deadline:
        assert policy.wait(at) > 0
    assert at + policy.wait(at) >= deadline - 1e-9  # float rounding only


@given(st.integers(2, 64))
def test_an_overload_halves_and_successes_win_it_back_slowly(ceiling: int) -> None:
    policy = HostPolicy(ceiling)
    policy.on_overload(0.0, None)
    assert policy.allowed == max(1, ceiling // 2)
    successes = 0
    while policy.allowed < ceiling:
        policy.on_success()
        successes += 1
    # additive increase: about one connection per `limit` successes, never a jump back
    assert successes >= ceiling - ceiling // 2 - 1


def test_a_refusal_takes_exactly_one_off() -> None:
    policy = HostPolicy(8)
    policy.on_refused()
    assert policy.allowed == 7
    policy.on_overload(0.0, None)
    policy.on_refused()
    assert policy.allowed == 2


def test_a_ceiling_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="ceiling"):
        HostPolicy(0)
