"""Properties of byte-range sets (aiodl._ranges), against a set-of-bytes model."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiodl._ranges import RangeSet

ranges = st.lists(st.tuples(st.integers(0, 200), st.integers(0, 200)), max_size=30)


def covered(ranges: list[tuple[int, int]]) -> set[int]:
    return {byte for start, end in ranges for byte in range(start, end)}


@given(ranges)
def test_ranges_cover_exactly_what_was_added(added: list[tuple[int, int]]) -> None:
    rs = RangeSet(added)
    assert covered(list(rs)) == covered(added)
    assert rs.total == len(covered(added))


@given(ranges)
def test_ranges_stay_sorted_disjoint_and_apart(added: list[tuple[int, int]]) -> None:
    spans = list(RangeSet(added))
    assert all(start < end for start, end in spans)
    assert all(a_end < b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans))


@given(ranges, st.integers(0, 250))
def test_gaps_are_the_complement(added: list[tuple[int, int]], size: int) -> None:
    rs = RangeSet(added)
    gaps = rs.gaps(size)
    assert covered(gaps) == set(range(size)) - covered(added)
    assert all(start < end <= size for start, end in gaps)


@given(ranges)
def test_prefix_is_the_unbroken_start(added: list[tuple[int, int]]) -> None:
    have = covered(added)
    expected = 0
    while expected in have:
        expected += 1
    assert RangeSet(added).prefix() == expected


@given(ranges)
def test_json_round_trip(added: list[tuple[int, int]]) -> None:
    rs = RangeSet(added)
    assert RangeSet.from_json(rs.to_json()) == rs


@pytest.mark.parametrize(
    "text", ["{}", "[[1]]", "[[1,2,3]]", '[["a",1]]', "[[-1,2]]", "[[true,2]]"]
)
def test_json_that_is_not_ranges_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="byte ranges"):
        RangeSet.from_json(text)


def test_copy_is_independent() -> None:
    rs = RangeSet([(0, 10)])
    clone = rs.copy()
    rs.add(20, 30)
    assert list(clone) == [(0, 10)]
