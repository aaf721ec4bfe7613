"""Properties of byte-range sets (aiodl._disk.ranges), against a set-of-bytes model."""

from __future__ import annotations

import itertools
import json
import random

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from aiodl._disk.ranges import RangeSet

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


@given(ranges, st.randoms(use_true_random=False))
def test_order_of_writes_does_not_matter(added: list[tuple[int, int]], rng: random.Random) -> None:
    """Segments finish in any order; the journal must describe the same bytes."""
    shuffled = list(added)
    rng.shuffle(shuffled)
    assert RangeSet(shuffled) == RangeSet(added)


@given(ranges, ranges)
def test_adding_only_grows_and_is_idempotent(
    first: list[tuple[int, int]], more: list[tuple[int, int]]
) -> None:
    """A checkpoint never loses bytes as writes are added, and re-adding changes nothing."""
    rs = RangeSet(first)
    before = covered(list(rs))
    for start, end in more:
        rs.add(start, end)
    assert before <= covered(list(rs))
    again = rs.copy()
    for start, end in [*first, *more]:
        again.add(start, end)
    assert again == rs


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=20,
)


@given(st.one_of(st.text(), json_values.map(json.dumps)))
def test_from_json_gives_ranges_or_value_error(text: str) -> None:
    """A journal row is read back as a valid RangeSet or refused with ValueError (which the
    journal turns into a lost resume), never anything else."""
    try:
        rs = RangeSet.from_json(text)
    except ValueError:
        return
    spans = list(rs)
    assert all(0 <= start < end for start, end in spans)
    assert all(a_end < b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans))


@given(st.integers(min_value=1, max_value=200_000), st.sampled_from(["[", "[[0,", '{"a":']))
@example(100_000, "[")  # found by fuzzing: json.loads raised RecursionError
def test_from_json_of_deep_nesting_is_a_value_error(depth: int, opener: str) -> None:
    with pytest.raises(ValueError, match=r"byte ranges|Expecting"):
        RangeSet.from_json(opener * depth)
