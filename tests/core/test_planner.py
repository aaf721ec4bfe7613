"""Properties of segment planning and work stealing (aiodl._core.planner)."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiodl._core.planner import Segment, plan, plan_gaps, slowest, steal, take_over
from aiodl._disk.ranges import RangeSet

sizes = st.integers(min_value=0, max_value=10**7)
splits = st.integers(min_value=1, max_value=64)
min_sizes = st.integers(min_value=1, max_value=10**5)


def assert_partition(segments: list[Segment], size: int) -> None:
    """``segments`` cover ``[0, size)`` contiguously, in order, without overlap."""
    start = 0
    for segment in segments:
        assert segment.start == start
        assert segment.end > segment.start
        start = segment.end
    assert start == size


@given(sizes, splits, min_sizes)
def test_plan_partitions_the_file(size: int, split: int, min_size: int) -> None:
    segments = plan(size, split, min_size)
    assert_partition(segments, size)
    assert len(segments) <= split
    assert sum(segment.end - segment.start for segment in segments) == size


@given(st.integers(min_value=1, max_value=10**7), splits, min_sizes)
def test_plan_segments_are_near_equal_and_big_enough(size: int, split: int, min_size: int) -> None:
    segments = plan(size, split, min_size)
    lengths = [segment.end - segment.start for segment in segments]
    assert max(lengths) - min(lengths) <= 1
    if len(segments) > 1:
        assert min(lengths) >= min_size
    assert all(segment.pos == segment.start for segment in segments)
    assert not any(segment.done for segment in segments)


@given(splits, min_sizes)
def test_plan_empty_file_has_no_segments(split: int, min_size: int) -> None:
    assert plan(0, split, min_size) == []


@given(st.integers(min_value=1, max_value=10**6), splits, min_sizes)
def test_plan_small_file_is_one_segment(size: int, split: int, min_size: int) -> None:
    if size < 2 * min_size:
        segments = plan(size, split, min_size)
        assert [(s.start, s.end) for s in segments] == [(0, size)]


@given(st.integers(min_value=1, max_value=64), st.integers(min_value=1, max_value=1000))
def test_plan_uses_every_connection_when_the_file_is_big(split: int, min_size: int) -> None:
    assert len(plan(split * min_size, split, min_size)) == split


def test_plan_examples() -> None:
    assert [(s.start, s.end) for s in plan(10, 3, 1)] == [(0, 4), (4, 7), (7, 10)]
    assert [(s.start, s.end) for s in plan(10, 8, 4)] == [(0, 5), (5, 10)]
    assert [(s.start, s.end) for s in plan(5, 8, 100)] == [(0, 5)]


@pytest.mark.parametrize(
    ("size", "split", "min_size"),
    [(-1, 1, 1), (10, 0, 1), (10, -3, 1), (10, 1, 0), (10, 1, -5)],
)
def test_plan_rejects_invalid_arguments(size: int, split: int, min_size: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        plan(size, split, min_size)


def test_segment_remaining_and_done() -> None:
    segment = Segment(10, 20)
    assert (segment.pos, segment.remaining, segment.done) == (10, 10, False)
    segment.pos = 20
    assert (segment.remaining, segment.done) == (0, True)
    assert Segment(0, 10, pos=4).remaining == 6
    segment.pos = 25  # an overshoot never reports negative work
    assert segment.remaining == 0


def test_steal_nothing_from_nothing() -> None:
    assert steal([], 1) is None


def test_steal_example() -> None:
    victim = Segment(0, 100, pos=20)
    thief = steal([victim, Segment(100, 110)], 10)
    assert thief is not None
    assert (victim.start, victim.pos, victim.end) == (0, 20, 60)
    assert (thief.start, thief.pos, thief.end) == (60, 60, 100)


def test_steal_refuses_a_short_tail() -> None:
    segments = [Segment(0, 19), Segment(19, 30)]
    assert steal(segments, 10) is None
    assert [(s.start, s.end) for s in segments] == [(0, 19), (19, 30)]


@given(st.data(), st.integers(min_value=1, max_value=10**6), splits, min_sizes)
def test_steal_with_progress_keeps_exact_coverage(
    data: st.DataObject, size: int, split: int, min_size: int
) -> None:
    segments = plan(size, split, min_size)
    for _ in range(data.draw(st.integers(min_value=0, max_value=30), label="rounds")):
        if data.draw(st.booleans(), label="progress"):
            segment = data.draw(st.sampled_from(segments), label="segment")
            segment.pos += data.draw(st.integers(0, segment.remaining), label="advance")
        else:
            before = {id(s): (s.start, s.pos, s.end) for s in segments}
            biggest = max(s.remaining for s in segments)
            thief = steal(segments, min_size)
            if biggest < 2 * min_size:
                assert thief is None
                assert before == {id(s): (s.start, s.pos, s.end) for s in segments}
                continue
            assert thief is not None
            changed = [s for s in segments if (s.start, s.pos, s.end) != before[id(s)]]
            assert len(changed) == 1
            victim = changed[0]
            assert victim.remaining == biggest // 2 >= min_size
            assert thief.start == thief.pos == victim.end
            assert thief.end == before[id(victim)][2]
            assert thief.remaining >= min_size
            assert victim.remaining + thief.remaining == biggest
            segments.append(thief)
        # fetched bytes [start, pos) plus pending bytes [pos, end) cover the file once
        ordered = sorted(segments, key=lambda s: s.start)
        assert_partition(ordered, size)
        assert all(s.start <= s.pos <= s.end for s in segments)
        fetched = sum(s.pos - s.start for s in segments)
        assert fetched + sum(s.remaining for s in segments) == size


@given(
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 5000)), max_size=8),
    st.integers(1, 16),
    st.integers(1, 2000),
)
def test_plan_gaps_covers_exactly_the_gaps(
    raw: list[tuple[int, int]], split: int, min_size: int
) -> None:
    """A resumed file fetches every missing byte once, and nothing it already has."""
    gaps = RangeSet((start, start + length) for start, length in raw)
    segments = plan_gaps(list(gaps), split, min_size)
    covered = RangeSet((s.start, s.end) for s in segments)
    assert covered == gaps
    assert sum(s.end - s.start for s in segments) == gaps.total  # no overlaps
    assert [s.start for s in segments] == sorted(s.start for s in segments)


@given(st.integers(-5, 10**7), st.integers(-3, 64), st.integers(-3, 10**5), st.integers(-5, 10**9))
def test_plan_partitions_or_refuses(size: int, split: int, min_size: int, start: int) -> None:
    """Any integers: a ValueError exactly when one is out of range, else a partition of
    ``[start, start + size)`` that starts where it was asked to."""
    if size < 0 or split < 1 or min_size < 1 or start < 0:
        with pytest.raises(ValueError, match="must be"):
            plan(size, split, min_size, start)
        return
    segments = plan(size, split, min_size, start)
    assert [(s.start - start, s.end - start) for s in segments] == [
        (s.start, s.end) for s in plan(size, split, min_size)
    ]
    assert all(s.pos == s.start for s in segments)


@given(
    st.integers(1, 5000),
    st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 5000)), max_size=10),
    splits,
    st.integers(1, 500),
)
def test_resume_fetches_exactly_the_missing_bytes(
    size: int, durable: list[tuple[int, int]], split: int, min_size: int
) -> None:
    """Journal ranges -> gaps -> segments: fetching every segment completes the file, and
    no segment refetches a byte the journal says is on disk."""
    have = RangeSet(durable)
    gaps = have.gaps(size)
    segments = plan_gaps(gaps, split, min_size)
    assert len(segments) <= split + len(gaps)
    for segment in segments:
        assert RangeSet([*have, (segment.start, segment.end)]).total == have.total + (
            segment.end - segment.start
        )
        have.add(segment.start, segment.end)
    assert have.gaps(size) == []
    assert have.prefix() >= size


@given(
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 5000)), min_size=1, max_size=8),
    splits,
    st.integers(1, 2000),
)
def test_plan_gaps_segments_are_big_enough_unless_alone(
    raw: list[tuple[int, int]], split: int, min_size: int
) -> None:
    gaps = list(RangeSet((start, start + length) for start, length in raw))
    segments = plan_gaps(gaps, split, min_size)
    for start, end in gaps:
        inside = [s for s in segments if start <= s.start < end]
        assert inside
        if len(inside) > 1:
            assert all(s.end - s.start >= min_size for s in inside)


speeds = st.floats(min_value=0.0, max_value=1e9, allow_nan=False)


@given(
    st.lists(st.tuples(speeds, st.booleans(), st.booleans()), max_size=12),
    st.floats(min_value=1.0, max_value=100.0),
)
def test_slowest_picks_a_slow_live_candidate_or_none(
    rows: list[tuple[float, bool, bool]], factor: float
) -> None:
    """aria2's lowest-speed rule: only a measured, unfinished candidate, the slowest of
    them, and only when it is ``factor`` times below the median of all speeds."""
    segments = [
        Segment(10 * i, 10 * i + 10, pos=10 * i + (10 if done else 0))
        for i, (_, done, _) in enumerate(rows)
    ]
    measured = {s: speed for s, (speed, _, _) in zip(segments, rows, strict=True)}
    candidates = [s for s, (_, _, candidate) in zip(segments, rows, strict=True) if candidate]
    victim = slowest(measured, candidates, factor)
    live = [s for s in candidates if not s.done]
    if victim is None:
        if len(measured) >= 2 and live:
            median = statistics.median(measured.values())
            assert min(measured[s] for s in live) * factor >= median
        return
    assert victim in live
    assert measured[victim] == min(measured[s] for s in live)
    assert measured[victim] * factor < statistics.median(measured.values())


@given(st.data(), st.integers(min_value=1, max_value=10**6), splits, min_sizes)
def test_steal_take_over_and_progress_keep_exact_coverage(
    data: st.DataObject, size: int, split: int, min_size: int
) -> None:
    """Any interleaving of progress, stealing and taking over a slow connection's bytes:
    fetched plus pending bytes cover the file exactly once, and no byte is fetched twice."""
    segments = plan(size, split, min_size)
    for _ in range(data.draw(st.integers(min_value=0, max_value=30), label="rounds")):
        action = data.draw(st.sampled_from(["progress", "steal", "take_over"]), label="action")
        if action == "progress":
            segment = data.draw(st.sampled_from(segments), label="segment")
            segment.pos += data.draw(st.integers(0, segment.remaining), label="advance")
        elif action == "steal":
            thief = steal(segments, min_size)
            if thief is not None:
                segments.append(thief)
        else:
            victim = data.draw(st.sampled_from(segments), label="victim")
            before = (victim.pos, victim.end)
            thief = take_over(victim)
            assert (thief.start, thief.pos, thief.end) == (before[0], before[0], before[1])
            assert victim.done
            assert victim.end == victim.pos == before[0]
            segments.append(thief)
        nonempty = sorted((s for s in segments if s.end > s.start), key=lambda s: s.start)
        assert_partition(nonempty, size)
        assert all(s.start <= s.pos <= s.end for s in segments)
        fetched = sum(s.pos - s.start for s in segments)
        assert fetched + sum(s.remaining for s in segments) == size
