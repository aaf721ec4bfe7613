"""The token bucket (aiodl._pacing.bucket): pure arithmetic with a given clock."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aiodl._pacing.bucket import MIN_BURST, Throttle, TokenBucket


@given(
    st.floats(1000, 1e9),
    st.lists(st.tuples(st.integers(1, 1 << 20), st.floats(0, 0.5)), min_size=1, max_size=50),
)
def test_a_spender_who_waits_as_told_never_beats_the_rate(
    rate: float, spends: list[tuple[int, float]]
) -> None:
    """Over any run, bytes <= burst + rate * elapsed, whatever the pauses between reads."""
    bucket = TokenBucket(rate, rate / 10)
    now = 0.0
    total = 0
    for nbytes, pause in spends:
        now += pause
        total += nbytes
        now += bucket.spend(nbytes, now)
        assert total <= rate / 10 + rate * now + 1e-6 * rate


def test_no_wait_within_the_rate() -> None:
    bucket = TokenBucket(1000.0, 100.0)
    assert bucket.spend(100, 0.0) == 0.0
    assert bucket.spend(100, 0.1) == 0.0  # refilled 100 in 0.1 s
    assert bucket.spend(200, 0.1) == 0.2  # 200 in debt at 1000/s


def test_throttle_burst_is_a_tenth_of_a_second_at_least_64_kib() -> None:
    assert Throttle(10_000_000).chunk == 1_000_000
    assert Throttle(1000).chunk == MIN_BURST
