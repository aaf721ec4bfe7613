"""The speed floor (aiodl._pacing.speed): windows of a second, checked with generated timings."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiodl import TooSlow
from aiodl._pacing.speed import MEASURE_SECONDS, SpeedFloor

GAPS = st.lists(st.floats(min_value=0.001, max_value=0.5), min_size=1, max_size=200)


@given(GAPS, st.floats(min_value=1.0, max_value=1e9))
def test_a_connection_at_or_above_the_floor_is_never_cut(gaps: list[float], speed: float) -> None:
    floor, now = SpeedFloor(speed, 0.0, "http://h/f"), 0.0
    for gap in gaps:
        now += gap
        floor.check(int(gap * speed) + 1, now)  # each read brings the floor's worth, or more


def first_cut(floor: SpeedFloor, gaps: list[float], rate: float) -> float | None:
    """Feed reads ``gaps`` seconds apart at ``rate``; the time TooSlow came, if it did."""
    now = 0.0
    for gap in gaps:
        now += gap
        try:
            floor.check(int(gap * rate), now)
        except TooSlow:
            return now
    return None


@given(GAPS, st.floats(min_value=1000.0, max_value=1e9))
def test_a_connection_below_the_floor_is_cut_at_the_end_of_its_first_window(
    gaps: list[float], speed: float
) -> None:
    gaps = [*gaps, MEASURE_SECONDS]
    ends = list(itertools.accumulate(gaps))  # summed as the clock runs (sum() compensates)
    cut = first_cut(SpeedFloor(speed, 0.0, "http://h/f"), gaps, speed / 2)
    assert cut == next(end for end in ends if end >= MEASURE_SECONDS)


def test_the_error_names_the_masked_url_and_the_rate() -> None:
    floor = SpeedFloor(1000.0, 0.0, "http://u:***@h/f")
    with pytest.raises(TooSlow) as caught:
        floor.check(100, 2.0)
    assert caught.value.url == "http://u:***@h/f"
    assert "50 B/s" in str(caught.value)
